"""``symkit check --worst-case``: the searched worst element beside the random-element error."""

import json

import yaml


def test_check_reports_the_worst_case_beside_random_elements(fakes, tmp_path, capsys):
    from symkit.cli import main

    cfg = fakes.toy_config(tmp_path)
    cfg["tracking"] = {"enabled": False}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["check", str(path), "--worst-case", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(out[-1])
    worst = data["worst_case"]
    # a plain MLP claims nothing and is far from invariant; the search does at least as well as
    # the random elements it starts from
    assert data["exact"] is False and any("claims exact equivariance: no" in line for line in out)
    assert worst["method"] == "gradient" and worst["evaluations"] > 4
    assert worst["relative"] > 0 and worst["relative"] >= 0.9 * data["equivariance"]["all"]
    assert any(line.strip().startswith("worst case") for line in out)
