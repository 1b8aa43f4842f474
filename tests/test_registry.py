"""Registry: scoped and bare names, wildcards, lazy targets, and the errors people see."""

from __future__ import annotations

import pytest

from symkit.errors import AmbiguousNameError, DuplicateNameError, RegistryError, UnknownNameError
from symkit.registry import CATEGORIES, Registry, register, registry


def gnn(hidden: int = 8):
    """Fake graph network.

    Second paragraph, not shown in listings.
    """
    return ("gnn", hidden)


def lazy_target():
    """Imported on first use."""
    return "loaded"


@pytest.fixture
def reg() -> Registry:
    """A private registry with parts from two scopes (no plugin discovery involved)."""
    r = Registry("backbones")
    r.add("gnn", gnn)
    r.add("mlp", dict, origin="core test")
    r.add("mlp", list, scope="graph", origin="plugin graph")
    r.add("graph::gcn", "test_registry_lazy_missing:thing")
    return r


def test_scoped_and_bare_names(reg):
    assert reg.get("gnn").qualname == "symkit::gnn"
    assert reg.get("symkit::gnn").load() is gnn
    assert reg.get("graph::mlp").load() is list
    assert reg.get("symkit::mlp").load() is dict


def test_ambiguous_bare_name_lists_scoped_choices(reg):
    with pytest.raises(AmbiguousNameError, match=r"model.backbone.type: .*graph::mlp, symkit::mlp"):
        reg.get("mlp", key="model.backbone.type")


def test_unknown_name_has_category_hint_and_listing(reg):
    with pytest.raises(UnknownNameError) as info:
        reg.get("gnnn", key="model.backbone.type")
    msg = str(info.value)
    assert msg.startswith("model.backbone.type: unknown backbones name 'gnnn'; did you mean 'gnn'?")
    assert "Known backbones: graph::gcn, graph::mlp, symkit::gnn, symkit::mlp" in msg
    assert info.value.key == "model.backbone.type"
    with pytest.raises(UnknownNameError, match=r"'zzz'\. Known backbones"):
        reg.get("zzz")


def test_duplicate_names_both_origins(reg):
    with pytest.raises(DuplicateNameError, match="first by core test, again by plugin other"):
        reg.add("mlp", set, origin="plugin other")


def test_wildcard_listing(reg):
    assert reg.names("g*") == ["graph::gcn", "graph::mlp", "symkit::gnn"]
    assert reg.names("graph::*") == ["graph::gcn", "graph::mlp"]
    assert reg.names("*mlp*") == ["graph::mlp", "symkit::mlp"]
    assert reg.get("gnn").doc == "Fake graph network."


def test_lazy_target_loads_on_first_use(reg):
    reg.add("lazy", f"{__name__}:lazy_target")
    entry = reg.get("lazy")
    assert entry._loaded is None
    assert entry.load()() == "loaded"
    with pytest.raises(RegistryError, match="cannot load 'test_registry_lazy_missing:thing'"):
        reg.get("gcn").load()
    assert reg.get("gcn").doc.startswith("(unavailable")


@pytest.mark.parametrize(
    ("name", "target", "error"),
    [("bad name", dict, ValueError), ("x", "no_colon", ValueError), ("x", 3, TypeError),
     ("bad scope!::x", dict, ValueError)],
)
def test_invalid_registrations(reg, name, target, error):
    with pytest.raises(error):
        reg.add(name, target)


def test_remove(reg):
    reg.remove("graph::mlp")
    assert reg.get("mlp").load() is dict
    reg.remove("graph::mlp", missing_ok=True)
    with pytest.raises(UnknownNameError):
        reg.remove("graph::mlp")


def test_global_registries_and_decorator():
    assert set(CATEGORIES) >= {"groups", "reps", "backbones", "metrics"}
    with pytest.raises(UnknownNameError, match="did you mean 'groups'"):
        registry("grops")

    @register("metrics", scope="regtest")
    def fancy_metric():
        """A test metric."""

    try:
        assert registry("metrics").get("fancy_metric").qualname == "regtest::fancy_metric"
        assert "regtest::fancy_metric" in registry("metrics").names("regtest::*")
    finally:
        registry("metrics").remove("regtest::fancy_metric")
    assert "regtest::fancy_metric" not in registry("metrics")


class _OnlyEven:
    @classmethod
    def supports(cls, group) -> bool:
        return group % 2 == 0


def _built_even() -> _OnlyEven:
    return _OnlyEven()


def test_supports_is_read_from_the_class_a_factory_returns():
    from symkit.registry import Registry

    reg = Registry("metrics")
    reg.add("even", _built_even)
    reg.add("cls", _OnlyEven)
    reg.add("none", lambda: None)
    own = reg.add("own", lambda: None)
    own.target.supports = lambda group: group == 3
    assert reg.get("even").supports(4) and not reg.get("even").supports(3)
    assert reg.get("cls").supports(2)
    assert reg.get("own").supports(3) and not reg.get("own").supports(4)
    assert not reg.get("none").supports(4)  # no rule declared: supports nothing checkable


def test_every_symmetrizer_and_canonicalizer_declares_its_groups_once():
    from symkit.plugins import ensure_loaded
    from symkit.registry import supports_rule

    ensure_loaded()
    for category in ("symmetrizers", "canonicalizers"):
        for entry in registry(category).entries():
            assert supports_rule(entry.load()) is not None, entry.qualname


@pytest.mark.parametrize(("module", "source"), [
    ("test_registry_lazy_raises", "raise RuntimeError('needs a GPU driver')\n"),
    ("test_registry_lazy_syntax", "def broken(:\n"),
])
def test_a_part_module_that_fails_to_import_is_one_registry_error(reg, tmp_path, monkeypatch,
                                                                    module, source):
    """Not only ImportError/AttributeError: a plugin part module that raises anything at import
    (a SyntaxError, a RuntimeError) is a RegistryError naming the part and its target, so that
    `symkit list` shows it as unavailable instead of crashing with a traceback."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    reg.add("broken", f"{module}:factory")
    entry = reg.get("broken")
    with pytest.raises(RegistryError, match=f"cannot load '{module}:factory'"):
        entry.load()
    assert entry.doc.startswith("(unavailable: ")
