"""Plugins installed as (fake) distributions: failures are reported, never fatal unless strict."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from symkit import plugins
from symkit.errors import PluginError, UnknownNameError
from symkit.hookspecs import hookimpl
from symkit.registry import registry


def _load_fake_dists():
    """``tests/fixtures/fake_dists.py`` (tests run with --import-mode=importlib)."""
    path = Path(__file__).parent / "fixtures" / "fake_dists.py"
    spec = importlib.util.spec_from_file_location("symkit_tests_fake_dists", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake_dists = _load_fake_dists()
PLUGINS, install = fake_dists.PLUGINS, fake_dists.install
SWITCHES = ("SYMKIT_STRICT_PLUGINS", "SYMKIT_DISABLE_PLUGINS", "SYMKIT_DISABLE_PLUGIN_AUTOLOAD")
BAD = ["broken", "raising", "unknown_hook", "bad_api", "twin_one"]


def probe():
    """A core part that must survive any plugin failure."""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """``site(*scenarios)`` installs fake plugin distributions for this test only."""
    for var in SWITCHES:
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    registry("losses").add("plugin_probe", probe)

    def add(*scenarios: str) -> None:
        install(tmp_path, *scenarios)
        monkeypatch.syspath_prepend(str(tmp_path))

    yield add
    plugins.reset()
    registry("losses").remove("symkit::plugin_probe")
    for scenario in PLUGINS:
        sys.modules.pop(f"{scenario}_plugin", None)


def report() -> dict[str, list[plugins.PluginInfo]]:
    out: dict[str, list[plugins.PluginInfo]] = {}
    for info in plugins.plugin_report():
        out.setdefault(info.name, []).append(info)
    return out


def test_good_plugin_parts_are_scoped_and_bare(site):
    site("good")
    (info,) = report()["good"]
    assert info.status == "ok" and info.version == "0.1"
    assert ("backbones", "good::tiny") in info.registered
    backbones = registry("backbones")
    assert backbones.get("good::tiny").load()(width=3) == ("tiny", 3)
    assert backbones.get("tiny").qualname == "good::tiny"
    assert backbones.get("lazy_part").load()() == "lazy"
    assert "plugin good" in backbones.get("tiny").origin


def test_every_failure_is_reported_and_skipped(site):
    site("good", "broken", "raising", "unknown_hook", "bad_api", "twin_one", "twin_two")
    seen = report()
    errors = {name: infos[-1].error for name, infos in seen.items()}
    for name in ("broken", "raising", "unknown_hook", "bad_api"):
        assert seen[name][0].status == "failed", name
    assert "import failed: ModuleNotFoundError" in errors["broken"]
    assert "symkit_no_such_module_xyz" in errors["broken"]
    assert "failed while registering: RuntimeError: boom" in errors["raising"]
    assert "unknown hook(s) ['symkit_register_groups']" in errors["unknown_hook"]
    assert "SYMKIT_API_VERSION=99" in errors["bad_api"]
    first, second = seen["twin"]
    assert (first.status, second.status) == ("ok", "failed")
    assert "'twin::net' is registered twice" in second.error
    assert "symkit_fake_twin_one" in second.error and "symkit_fake_twin_two" in second.error
    # the rest keeps working: core parts, the good plugin, the first twin
    assert registry("losses").get("plugin_probe").load() is probe
    assert registry("backbones").get("tiny").qualname == "good::tiny"
    assert registry("backbones").get("twin::net").load() is dict
    # transactional: the plugin that raised halfway left nothing behind
    assert "raising::half" not in registry("backbones")
    assert "unknown_hook::lorentz" not in registry("groups")


@pytest.mark.parametrize("scenario", BAD)
def test_strict_mode_makes_each_failure_fatal(site, monkeypatch, scenario):
    site(scenario, "twin_two") if scenario == "twin_one" else site(scenario)
    monkeypatch.setenv("SYMKIT_STRICT_PLUGINS", "1")
    name = "twin" if scenario == "twin_one" else scenario
    with pytest.raises(PluginError, match=rf"(?s)SYMKIT_STRICT_PLUGINS.*{name}:"):
        plugins.ensure_loaded()
    with pytest.raises(PluginError):  # stays fatal for later calls
        plugins.ensure_loaded()


def test_disable_by_name(site, monkeypatch):
    site("good", "broken")
    monkeypatch.setenv("SYMKIT_DISABLE_PLUGINS", "good, broken")
    seen = report()
    assert seen["good"][0].status == "disabled" and seen["broken"][0].status == "disabled"
    assert "good::tiny" not in registry("backbones")


def test_disable_autoload(site, monkeypatch):
    site("good", "broken")
    monkeypatch.setenv("SYMKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert report() == {}
    assert "good::tiny" not in registry("backbones")
    assert registry("losses").get("plugin_probe").load() is probe


def test_lookups_never_discover_and_say_how_to_load(site):
    site("good")
    assert "good::tiny" not in registry("backbones")  # a lookup has no side effect
    with pytest.raises(UnknownNameError, match=r"not loaded yet: call "
                       r"symkit\.plugins\.ensure_loaded\(\) first"):
        registry("backbones").get("good::tiny")
    plugins.ensure_loaded()
    assert registry("backbones").get("good::tiny").qualname == "good::tiny"
    with pytest.raises(UnknownNameError) as err:  # loaded: the plain did-you-mean message
        registry("backbones").get("good::tinny")
    assert "ensure_loaded" not in str(err.value) and "did you mean 'good::tiny'" in str(err.value)


def test_reset_rediscovers(site):
    site("good")
    plugins.ensure_loaded()
    assert "good::tiny" in registry("backbones")
    plugins.reset()
    assert "good::tiny" not in registry("backbones")
    plugins.ensure_loaded()
    assert "good::tiny" in registry("backbones")


def _inproc(**hooks) -> ModuleType:
    plugin = ModuleType("inproc_plugin")
    plugin.SYMKIT_API_VERSION = 1
    vars(plugin).update(hooks)
    return plugin


def test_in_process_plugin_load_and_unload(site):
    def part(size: int = 1):
        """In-process part."""

    plugin = _inproc(symkit_register=hookimpl(lambda register: register("metrics", "ip", part)))
    info = plugins.load_plugin(plugin, "inproc")
    assert info.status == "ok" and info.registered == [("metrics", "inproc::ip")]
    assert registry("metrics").get("inproc::ip").load() is part
    plugins.unload_plugin("inproc")
    assert "inproc::ip" not in registry("metrics")


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        (lambda register: register("metrics", "symkit::mse", dict), "in their own scope"),
        (lambda register: register("metricz", "x", dict), "did you mean 'metrics'"),
        (lambda register, extra: None, "rejected"),
        (lambda register: register("metrics", "x", 3), "must be callable"),
    ],
)
def test_in_process_plugin_failures(site, hook, message):
    info = plugins.load_plugin(_inproc(symkit_register=hook), "bad")
    assert info.status == "failed" and message in info.error
    with pytest.raises(PluginError, match=message):
        plugins.load_plugin(_inproc(symkit_register=hook), "bad2", strict=True)
    with pytest.raises(UnknownNameError):
        registry("metrics").get("bad::x")


# -- every way a plugin can fail: SystemExit, KeyboardInterrupt, other BaseExceptions ----------
def test_exits_and_base_exceptions_are_reported_and_skipped(site, capsys):
    site("good", "argparse_exit", "exit_zero", "base_exception", "exit_while_registering")
    seen = {name: infos[-1] for name, infos in report().items()}
    for name in ("argparse_exit", "exit_zero", "base_exception", "exit_while_registering"):
        assert seen[name].status == "failed", name
    assert "import failed: it called sys.exit(2)" in seen["argparse_exit"].error
    assert "argparse" in seen["argparse_exit"].error
    assert "required: --only-mine" in seen["argparse_exit"].error  # what it printed, quoted
    assert "sys.exit(None)" in seen["exit_zero"].error
    assert "import failed: Odd: not an Exception" in seen["base_exception"].error
    assert "failed while registering: it called sys.exit(3)" in seen["exit_while_registering"].error
    assert "exit_while_registering::gone" not in registry("backbones")  # transactional
    assert seen["good"].status == "ok" and registry("backbones").get("tiny")
    out = capsys.readouterr()
    assert "usage: symkit" not in out.out + out.err  # the plugin's usage line is held back


def test_keyboard_interrupt_at_import_is_reported_then_raised(site):
    site("interrupt", "good")
    with pytest.raises(KeyboardInterrupt):
        plugins.ensure_loaded()
    (info,) = [i for i in plugins._report if i.name == "interrupt"]
    assert info.status == "failed" and "interrupted (KeyboardInterrupt)" in info.error


def test_what_a_working_plugin_prints_at_import_is_kept(site, capsys):
    site("chatty")
    assert report()["chatty"][0].status == "ok"
    assert "chatty plugin says hello" in capsys.readouterr().out


def test_cli_survives_a_plugin_that_exits_at_import(site, capsys):
    from symkit.cli import main

    site("argparse_exit")
    assert main(["plugins"]) == 0
    out = capsys.readouterr()
    assert "argparse_exit" in out.out and "[failed]" in out.out
    assert "usage:" not in out.err
    assert main(["list", "losses", "plugin_probe"]) == 0


def _all_entries():
    from symkit.registry import CATEGORIES

    plugins.ensure_loaded()
    return [pytest.param(e, id=f"{e.category}-{e.qualname}")
            for c in CATEGORIES for e in registry(c).entries()]


@pytest.mark.parametrize("entry", _all_entries())
def test_every_registered_part_loads(entry):
    """Every part registered by core and the installed plugins imports; an unloadable one (a
    typo'd ``module:attr``) fails here with the RegistryError naming it, and only here: the
    conformance grids leave it out (``tests/_cases.loads``)."""
    assert entry.load() is not None


class _TypoPlugin:
    SYMKIT_API_VERSION = 1

    @hookimpl
    def symkit_register(self, register):
        register("groups", "typo_group", "symkit.groups:no_such_group")
        register("canonicalizers", "typo_canon", "symkit_no_such_module:canon")


def test_the_grids_survive_a_plugin_part_that_does_not_load(symkit_plugin):
    """The conformance and hard-input grids are built at collection from the registry; a
    plugin's unloadable part used to raise RegistryError there, so no core or plugin part was
    tested at all. Now it is left out of the grids (and fails the test above)."""
    from tests._cases import loads, registered_groups, supports

    symkit_plugin(_TypoPlugin(), "typo")
    names = [n for n, _ in registered_groups()]
    assert "typo_group" not in names and "o3" in names
    entry = registry("canonicalizers").get("typo::typo_canon")
    assert not loads(entry)
    assert not supports(entry, registry("groups").build("o3"))
    assert supports(registry("canonicalizers").get("pca"), registry("groups").build("o3"))
