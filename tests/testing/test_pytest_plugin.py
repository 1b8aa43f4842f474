"""The pytest plugin's fixtures and the registry-driven conformance cases."""

import subprocess
import sys

from symkit.hookspecs import hookimpl
from symkit.testing import conformance_cases


class _Plugin:
    SYMKIT_API_VERSION = 1

    @hookimpl
    def symkit_register(self, register):
        register("reps", "doubled_vector", "symkit.reps:vector")


def test_registry_fixture(symkit_registry):
    assert "vector" in symkit_registry("reps")


def test_plugin_fixture_registers_then_unloads(symkit_plugin, symkit_registry):
    info = symkit_plugin(_Plugin(), "inproc")
    assert ("reps", "inproc::doubled_vector") in info.registered
    assert "inproc::doubled_vector" in symkit_registry("reps")
    ids = [p.id for p in conformance_cases(scope="inproc")]
    assert "so3-doubled_vector" in ids and all(i.endswith("doubled_vector") for i in ids)


def test_plugin_was_unloaded(symkit_registry):
    assert "inproc::doubled_vector" not in symkit_registry("reps")


def test_conformance_cases_cover_the_registry():
    ids = {p.id for p in conformance_cases()}
    assert {"c4-image", "d4-regular", "o3-pseudovector", "se3-point"} <= ids
    assert "so3-regular" not in ids and "o3-image" not in ids


def test_pytest_plugin_is_light():
    assert "symkit.testing.pytest_plugin" in sys.modules
    import symkit.testing.pytest_plugin as plugin

    assert "torch" not in plugin.__dict__ and "registry" not in plugin.__dict__
    code = "import sys, symkit.testing.pytest_plugin; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_group_checks_are_reexported():
    import symkit.testing as testing
    from symkit.testing._group_axioms import check_group_axioms

    assert testing.check_group_axioms is check_group_axioms


class _Broken:
    """A plugin whose parts' ``module:attr`` targets do not import (a typo)."""

    SYMKIT_API_VERSION = 1

    @hookimpl
    def symkit_register(self, register):
        register("groups", "typo_group", "symkit.groups:no_such_group")
        register("reps", "typo_rep", "symkit_no_such_module:rep")
        register("reps", "doubled_vector", "symkit.reps:vector")


def test_an_unloadable_part_is_one_failing_case_not_a_broken_collection(symkit_plugin):
    """conformance_cases() is called at collection: a plugin's unimportable part used to raise
    there (RegistryError), breaking the collection of every test module using it, for every
    plugin. Now the part gets one case whose build raises the line naming it, and the plugin's
    other parts keep their cases."""
    import pytest

    from symkit.errors import RegistryError
    from symkit.registry import registry

    symkit_plugin(_Broken(), "broken")
    cases = {p.id: p.values for p in conformance_cases(scope="broken")}
    assert cases["unloadable-groups-typo_group"] == ("broken::typo_group", "scalar")
    assert cases["unloadable-reps-typo_rep"] == ("so3", "broken::typo_rep")
    assert "so3-doubled_vector" in cases
    with pytest.raises(RegistryError, match="'broken::typo_group': cannot load"):
        registry("groups").build("broken::typo_group")
