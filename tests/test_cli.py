"""The ``symkit`` command line: plugins, list, config show, errors and extension modules."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from symkit import __version__, cli, plugins
from symkit.errors import ConfigError
from symkit.registry import registry

SWITCHES = ("SYMKIT_STRICT_PLUGINS", "SYMKIT_DISABLE_PLUGINS", "SYMKIT_DISABLE_PLUGIN_AUTOLOAD")


def _load_fake_dists():
    """``tests/fixtures/fake_dists.py`` (tests run with --import-mode=importlib)."""
    path = Path(__file__).parent / "fixtures" / "fake_dists.py"
    spec = importlib.util.spec_from_file_location("symkit_tests_fake_dists", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake_dists = _load_fake_dists()


def cli_mlp(hidden: int = 32, layers: int = 2):
    """CLI test backbone."""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The fake ``good`` and ``broken`` plugins installed, plus an in-process core part."""
    for var in SWITCHES:
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    fake_dists.install(tmp_path / "site", "good", "broken")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry("backbones").add("cli_mlp", cli_mlp, scope="clitest")
    yield
    registry("backbones").remove("clitest::cli_mlp")
    plugins.reset()
    for name in ("good_plugin", "broken_plugin"):
        sys.modules.pop(name, None)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_is_fast_and_imports_no_torch():
    code = ("import sys; from symkit.cli import main; code = main(['--version']); "
            "print('torch' in sys.modules, code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.splitlines() == [f"symkit {__version__}", "False 0"], result.stderr


def test_help_lists_commands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("plugins", "list", "config"):
        assert command in out


def test_plugins_json(capsys, installed):
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data["core_parts"], int)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["good"]["status"] == "ok" and by_name["good"]["version"] == "0.1"
    assert ["backbones", "good::tiny"] in by_name["good"]["registered"]
    assert by_name["broken"]["status"] == "failed"
    assert "symkit_no_such_module_xyz" in by_name["broken"]["error"]


def test_plugins_text(capsys, installed):
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    assert out.startswith("core: ")
    assert "good 0.1  [ok]" in out and "backbones: good::tiny" in out
    assert "broken 0.1  [failed]" in out and "error: import failed" in out


def test_list_with_wildcard(capsys, installed):
    code, out, _ = run(capsys, "list", "backbones", "*tiny*", "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert row["name"] == "good::tiny" and row["doc"] == "A tiny fake backbone."
    assert row["origin"].startswith("plugin good")
    code, out, _ = run(capsys, "list", "backbones", "clitest::*")
    assert code == 0 and "clitest::cli_mlp" in out and "CLI test backbone." in out
    code, out, _ = run(capsys, "list")
    assert code == 0 and "backbones: clitest::cli_mlp" in out


def test_unknown_category_is_a_clean_error(capsys):
    code, out, err = run(capsys, "list", "backbone")
    assert code == 2 and out == ""
    assert err.startswith("symkit: error: unknown category 'backbone'; did you mean 'backbones'?")
    assert "Traceback" not in err


def test_config_show(capsys, tmp_path, installed):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  backbone: {type: cli_mlp, hidden: '${width}'}\nwidth: 8\n")
    code, out, _ = run(capsys, "config", "show", str(path), "model.backbone.layers=4")
    assert code == 0
    assert "hidden: 8" in out and "layers: 4" in out
    path.write_text("model:\n  backbone: {type: cli_mlp, hiden: 8}\n")
    code, out, err = run(capsys, "config", "show", str(path))
    assert code == 2 and out == ""
    assert err.startswith("symkit: error: model.backbone.hiden: unknown option for clitest::")
    with pytest.raises(ConfigError):
        cli.main(["--debug", "config", "show", str(path)])


def test_usage_error_exit_code(capsys):
    code, _, err = run(capsys, "config")
    assert code == 2 and "usage:" in err


def test_command_modules(capsys, monkeypatch, tmp_path):
    ext = ModuleType("symkit_tests_cli_ext")

    def add_commands(sub):
        sub.add_parser("hello").set_defaults(func=lambda args: print("hi") or 0)

    ext.add_commands = add_commands
    monkeypatch.setitem(sys.modules, ext.__name__, ext)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("symkit_tests_no_such_ext", ext.__name__))
    assert run(capsys, "hello")[:2] == (0, "hi\n")
    (tmp_path / "symkit_tests_broken_ext.py").write_text("import symkit_tests_missing_dep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("symkit_tests_broken_ext",))
    code, _, err = run(capsys, "--help")
    assert code == 2 and "cannot load commands from symkit_tests_broken_ext" in err
    assert "symkit_tests_missing_dep" in err


def test_config_show_validates_run_configs_like_train():
    """Run configs (with metric.mode, train:, tracking:) show; a typo'd section is named."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "symkit.cli", "config", "show",
           str(root / "configs" / "nbody" / "fa_gnn.yaml")]
    ok = subprocess.run(cmd + ["train.epochs=3"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "epochs: 3" in ok.stdout
    bad = subprocess.run(cmd + ["trian.epochs=3"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "trian" in bad.stderr and "did you mean 'train'" in bad.stderr


# -- config show builds what it shows; --defaults; list CATEGORY NAME -------------------------
RUN = """
model:
  group: o3
  in_spec: {x: vector}
  out_spec: {y: vector}
  backbone: {type: mlp, writes: {y: [3]}, hidden: [8]}
  symmetrizer: {type: frame_averaging, field: x}
loss: {type: mse, output: y, target: y}
train: {epochs: 2}
"""


def one_line_error(code, out, err, key, *fragments):
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"symkit: error: {key}"), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize("overrides, key, fragments", [
    (["model.group=c4"], "model.symmetrizer", ["frame_averaging supports O(d)", "got C4"]),
    (["model.symmetrizer={type: canonicalization}", "model.group=c4"], "model.symmetrizer",
     ["no built-in canonicalizer (pca, centroid, scale, sort, pca_sort) supports C4",
      "canonicalizers that do: symkit::learned_group_cnn"]),
    (["model.group=SO3"], "model.group", ["did you mean 'so3'?"]),
    (["model.backbone.type=MLP"], "model.backbone.type", ["did you mean 'mlp'?"]),
    (["train.device=gpu"], "train.device", ["did you mean 'cuda'?"]),
    (["~model.symmetrizer.field", "model.symmetrizer.fieldd=x"], "model.symmetrizer.fieldd",
     ["did you mean 'field'?"]),
])
def test_config_show_fails_on_configs_that_cannot_build(capsys, tmp_path, overrides, key,
                                                        fragments):
    path = tmp_path / "run.yaml"
    path.write_text(RUN)
    assert run(capsys, "config", "show", str(path))[0] == 0
    one_line_error(*run(capsys, "config", "show", str(path), *overrides), key, *fragments)


def test_config_show_replaces_nodes_and_prints_defaults(capsys, tmp_path):
    import yaml

    path = tmp_path / "run.yaml"
    path.write_text(RUN)
    code, out, err = run(capsys, "config", "show", str(path),
                         "model.symmetrizer={type: canonicalization}")
    assert code == 0, err
    assert yaml.safe_load(out)["model"]["symmetrizer"] == {"type": "canonicalization"}
    code, out, err = run(capsys, "config", "show", str(path), "--defaults")
    assert code == 0, err
    full = yaml.safe_load(out)
    assert full["train"]["epochs"] == 2 and full["train"]["batch_size"] == 32
    assert full["train"]["equivariance"] == {"n_elements": 8, "max_samples": 64, "split": "test"}
    assert full["tracking"]["enabled"] is True and full["optimizer"]["type"] == "symkit::adam"
    assert full["optimizer"]["lr"] == 0.001 and full["scheduler"] == {"type": "symkit::constant"}
    assert full["model"]["symmetrizer"]["degeneracy_tol"] == 0.001  # a symmetrizer default
    assert "backbone" not in full["model"]["symmetrizer"]  # context is not written out
    assert full["metric"] == {"type": "symkit::mse", "output": "y", "target": "y", "mode": "min"}


def test_list_one_part_shows_its_options(capsys):
    code, out, _ = run(capsys, "list", "symmetrizers", "frame_averaging")
    assert code == 0
    assert out.startswith("symmetrizers: symkit::frame_averaging")
    row = next(line for line in out.splitlines() if line.strip().startswith("degeneracy_tol"))
    assert "0.001" in row and "eigen" in row  # default and description
    assert "(context)" in next(line for line in out.splitlines() if "in_spec" in line)
    code, out, _ = run(capsys, "list", "losses", "mse", "--json")
    options = {o["name"]: o for o in json.loads(out)["options"]}
    assert options["output"]["default"] == "(required)" and options["target"]["doc"]
    one_line_error(*run(capsys, "list", "groups", "SO3"), "groups SO3", "did you mean 'so3'?")
    code, out, _ = run(capsys, "list", "groups", "so*")  # a wildcard still lists
    assert code == 0 and "symkit::so3" in out and "options" not in out


# -- no raw tracebacks --------------------------------------------------------------------------
def test_unexpected_errors_and_interrupts_are_one_line(capsys, monkeypatch):
    def boom(args):
        raise RuntimeError("something broke\nsecond line")

    def interrupt(args):
        raise KeyboardInterrupt

    for func, code, text in ((boom, 1, "symkit: error: unexpected RuntimeError: something broke "
                              "| second line (run again with --debug"),
                             (interrupt, 130, "symkit: interrupted")):
        monkeypatch.setattr(cli, "_cmd_plugins", func)
        got, out, err = run(capsys, "plugins")
        assert got == code and err.startswith(text) and len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


@pytest.mark.parametrize("argv, fragment", [
    (["check", "configs/nbody/nope.yaml"], "configs/nbody/nope.yaml: no such config file"),
    (["eval", "runs/nope"], "runs/nope: no such file or run directory"),
    (["eval", "runs/abc/best.pt"], "runs/abc/best.pt: no such file or run directory"),
    (["train", "--resume", "runs/nope"], "--resume: runs/nope: no such file or run directory"),
])
def test_missing_paths_are_not_taken_for_run_ids(capsys, tmp_path, monkeypatch, argv, fragment):
    import tempfile

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code, out, err = run(capsys, *argv)
    one_line_error(code, out, err, fragment, "not an MLflow run id (32 hex digits)")
    assert not any((tmp_path / "tmp").iterdir())  # no temporary download folder


CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "nbody" / "fa_gnn.yaml")


@pytest.mark.parametrize("argv, message", [
    (["check", CONFIG, "--split", "tset"],
     "--split: invalid choice: 'tset' (choose from 'train', 'valid', 'test')"),
    (["eval", "runs/nope", "--split", "tset"],
     "--split: invalid choice: 'tset' (choose from 'train', 'valid', 'test')"),
    (["check", CONFIG, "--split"], "--split: expected one argument"),
    (["check", CONFIG, "--seed", "99999999999999999999999"],
     "--seed: expected an integer from 0 to 2**63 - 1, got '99999999999999999999999'"),
    (["eval", "runs/nope", "--seed", "abc"],
     "--seed: expected an integer from 0 to 2**63 - 1, got 'abc'"),
    (["train", "--resume", "runs/nope"], "--resume: runs/nope: no such file or run directory, "
                                         "and not an MLflow run id (32 hex digits)"),
    (["frobnicate"], "COMMAND: invalid choice: 'frobnicate'"),
])
def test_a_wrong_option_value_is_one_line_naming_the_option(capsys, tmp_path, monkeypatch,
                                                            argv, message):
    """Named as the option the user typed, never as the config key it feeds (``data.split``)
    and never an unexpected error; before anything is built or read."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    one_line_error(code, out, err, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, message", [
    ("file", "exists and is not a folder; choose another --dir"),
    ("file/sub", "(Not a directory); choose another --dir"),
])
def test_new_plugin_dir_that_cannot_be_a_folder_is_one_line(capsys, tmp_path, where, message):
    (tmp_path / "file").write_text("")
    code, out, err = run(capsys, "new-plugin", "ok", "--dir", str(tmp_path / where))
    one_line_error(code, out, err, "", message)
