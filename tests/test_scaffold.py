"""``symkit new-plugin``: the generated plugin installs, is discovered and passes its own
conformance tests (a real ``pip install -e`` into the running environment, then uninstall)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from symkit.cli import main
from symkit.errors import SymkitError
from symkit.scaffold import plugin_names, render_plugin

NAME = f"scaffoldtest_{os.getpid()}"
BIN = Path(sys.executable).parent


def test_renders_every_template_file(tmp_path, capsys):
    assert main(["new-plugin", "demo", "--dir", str(tmp_path / "p")]) == 0
    assert "created symkit-demo" in capsys.readouterr().out
    files = sorted(p.relative_to(tmp_path / "p").as_posix()
                   for p in (tmp_path / "p").rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "symkit_demo/__init__.py",
                     "symkit_demo/_group.py", "tests/test_conformance.py"]
    for path in (tmp_path / "p").rglob("*.*"):
        text = path.read_text()
        assert "{{" not in text, path
        if path.suffix == ".py":
            compile(text, str(path), "exec")
    pyproject = (tmp_path / "p" / "pyproject.toml").read_text()
    assert '[project.entry-points.symkit]\ndemo = "symkit_demo"' in pyproject


def test_rejects_bad_names_and_existing_folders(tmp_path):
    with pytest.raises(SymkitError, match="invalid plugin name"):
        plugin_names("My-Plugin")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("")
    with pytest.raises(SymkitError, match="not empty"):
        render_plugin("demo", tmp_path / "x")
    assert main(["new-plugin", "Bad Name", "--dir", str(tmp_path / "y")]) == 2


def _run(*args: str, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_generated_plugin_tests_pass_before_it_is_installed(tmp_path):
    """Out of the box, `pytest DEST/tests` (the command `symkit new-plugin` prints) runs the
    conformance tests on the plugin loaded in-process; it used to fail collecting with
    ModuleNotFoundError: the package folder was not on sys.path until `pip install -e`."""
    dest = render_plugin(NAME, tmp_path / "plugin")
    tests = _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 str(dest / "tests"), cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "1 skipped" in tests.stdout, tests.stdout


@pytest.mark.slow
def test_generated_plugin_installs_is_discovered_and_passes_its_tests(tmp_path):
    dest = render_plugin(NAME, tmp_path / "plugin")
    dist = plugin_names(NAME)["dist"]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    done = _run(*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(dest))
    assert done.returncode == 0, done.stderr
    try:
        tests = _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
                     cwd=dest)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert " passed" in tests.stdout and "skipped" not in tests.stdout, tests.stdout
        listed = _run(str(BIN / "symkit"), "plugins", "--json")
        assert listed.returncode == 0, listed.stderr
        info = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}[NAME]
        assert info["status"] == "ok", info
        assert ["groups", f"{NAME}::klein"] in info["registered"]
    finally:
        gone = _run(*pip, "uninstall", "-y", dist)
        assert gone.returncode == 0, gone.stderr


def test_new_plugin_works_from_an_installed_wheel(tmp_path):
    """The template is package data: a wheel carries it, and `symkit new-plugin` run from the
    wheel's files (no source checkout next to them) renders it."""
    import shutil
    import zipfile

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    shutil.copytree(root / "symkit", source / "symkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    built = _run(sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                 "--no-build-isolation", "-w", str(tmp_path / "dist"), cwd=tmp_path, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("symkit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "symkit/templates/plugin/{{package}}/__init__.py.tmpl" in names
        archive.extractall(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run(
        [sys.executable, "-c", "import symkit, sys; from symkit.cli import main; "
         "print(symkit.__file__); sys.exit(main(['new-plugin', 'demo', '--dir', 'out']))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(str(tmp_path / "site"))  # symkit ran from the wheel
    assert (tmp_path / "out" / "symkit_demo" / "__init__.py").is_file()
