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
