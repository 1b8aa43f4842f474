"""Config: load, validate before building, build with context injection; errors name the key."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from types import SimpleNamespace
from typing import Literal

import pytest

from symkit.config import build, build_rep, build_spec, load_config, to_yaml, validate
from symkit.errors import AmbiguousNameError, ConfigError, UnknownNameError
from symkit.registry import registry
from symkit.spec import Spec


# -- fake parts, registered for this module only --------------------------------------------
def toy_mlp(
    in_spec: Spec,
    out_spec: Spec,
    hidden: int = 32,
    layers: int = 2,
    activation: Literal["relu", "silu"] = "relu",
    dropout: float = 0.0,
    widths: list[int] | None = None,
):
    """Fake backbone."""
    return SimpleNamespace(kind="mlp", in_spec=in_spec, out_spec=out_spec, hidden=hidden,
                           layers=layers, activation=activation, dropout=dropout, widths=widths)


def needs_width(width: int):
    """Fake backbone with a required option."""
    return width


def picky(k: int = 1):
    """Fake backbone whose constructor rejects some values."""
    if k < 0:
        raise ValueError("k must be >= 0")
    return k


def toy_cyclic(n: int = 4):
    """Fake group."""
    return ("C", n)


def toy_product(factors: list):
    """Fake product group."""
    return ("product", factors)


def toy_canon(group, scale: float = 1.0):
    """Fake canonicalizer."""
    return SimpleNamespace(group=group, scale=scale)


def toy_avg(backbone, group, n_samples: int = 4, canonicalizer: object | None = None):
    """Fake symmetrizer."""
    return SimpleNamespace(backbone=backbone, group=group, n_samples=n_samples,
                           canonicalizer=canonicalizer)


def with_params(**options):
    """Fake part whose options are a Params dataclass."""
    return with_params.Params(**options)


@dataclasses.dataclass
class _Params:
    rate: float = 0.1
    mode: Literal["a", "b"] = "a"


with_params.Params = _Params

FAKES = [
    ("backbones", toy_mlp), ("backbones", needs_width), ("backbones", picky),
    ("backbones", with_params), ("groups", toy_cyclic), ("groups", toy_product),
    ("canonicalizers", toy_canon), ("symmetrizers", toy_avg),
]


@pytest.fixture(autouse=True, scope="module")
def fake_parts():
    for category, factory in FAKES:
        registry(category).add(factory.__name__, factory, scope="testkit")
    yield
    for category, factory in FAKES:
        registry(category).remove(f"testkit::{factory.__name__}")


GOOD = """
model:
  group: toy_cyclic
  in_spec: {pos: {rep: vector, nodes: true}, charge: scalar}
  out_spec: {energy: scalar}
  backbone: {type: toy_mlp, hidden: 64, widths: [8, 8]}
  symmetrizer:
    type: toy_avg
    n_samples: 8
    canonicalizer: {type: toy_canon, scale: 2}
train:
  lr: 1.0e-3
  epochs: ${train.steps}
  steps: 5
"""


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_config_builds_with_context(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), ["model.backbone.layers=3", "model.group.n=6"])
    validate(cfg)
    model = cfg.model
    group = build(model.group, "groups", key="model.group")
    assert group == ("C", 6)
    in_spec = build_spec(model.in_spec, key="model.in_spec")
    assert in_spec["pos"].nodes and not in_spec["charge"].nodes
    out_spec = build_spec(model.out_spec, key="model.out_spec")
    context = {"group": group, "in_spec": in_spec, "out_spec": out_spec}
    backbone = build(model.backbone, "backbones", key="model.backbone", context=context)
    assert (backbone.hidden, backbone.layers, backbone.widths) == (64, 3, [8, 8])
    assert backbone.in_spec is in_spec and backbone.out_spec is out_spec
    sym = build(model.symmetrizer, "symmetrizers", key="model.symmetrizer",
                context={**context, "backbone": backbone})
    assert sym.backbone is backbone and sym.group == group and sym.n_samples == 8
    assert sym.canonicalizer.group == group and sym.canonicalizer.scale == 2
    assert cfg.train.epochs == 5 and cfg.train.lr == pytest.approx(1e-3)
    assert "epochs: 5" in to_yaml(cfg) and "type: toy_cyclic" in to_yaml(cfg)


def test_yaml_overrides_context(tmp_path):
    node = {"type": "toy_canon", "group": "toy_cyclic"}
    canon = build(node, "canonicalizers", key="c", context={"group": "from context"})
    assert canon.group == ("C", 4)


def test_list_of_typed_nodes_and_params_dataclass():
    product = build({"type": "toy_product", "factors": ["toy_cyclic", {"type": "toy_cyclic",
                    "n": 2}]}, "groups", key="model.group")
    assert product == ("product", [("C", 4), ("C", 2)])
    assert build({"type": "with_params", "rate": 1}, "backbones", key="b") == _Params(1, "a")
    with pytest.raises(ConfigError, match=r"^b\.mode: expected Literal\['a', 'b'\]"):
        build({"type": "with_params", "mode": "c"}, "backbones", key="b")


def test_build_rep_and_spec():
    field = build_rep({"rep": "tensor", "rank": 2, "nodes": True}, key="spec.t")
    assert field.nodes and field.rep.feature_ndim == 2
    assert set(build_spec({"v": "vector"}, key="s")) == {"v"}
    with pytest.raises(ConfigError, match=r"^s\.v\.nodes: expected bool"):
        build_rep({"rep": "vector", "nodes": "yes"}, key="s.v")


def expect(tmp_path, text: str, key: str, *fragments: str, overrides=(), error=ConfigError):
    """Loading + validating ``text`` fails with ``error`` at ``key`` naming ``fragments``."""
    with pytest.raises(error) as info:
        validate(load_config(write(tmp_path, text), overrides))
    message = str(info.value)
    assert info.value.key == key, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def model_yaml(backbone: str = "{type: toy_mlp}", **extra: str) -> str:
    lines = ["model:", "  group: toy_cyclic", "  in_spec: {x: vector}",
             "  out_spec: {y: scalar}", f"  backbone: {backbone}"]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def test_typo_key_did_you_mean(tmp_path):
    message = expect(tmp_path, model_yaml("{type: toy_mlp, hiden: 3}"), "model.backbone.hiden",
                     "unknown option for testkit::toy_mlp; did you mean 'hidden'?")
    assert "Options: activation, dropout, hidden, in_spec, layers, out_spec, widths" in message


def test_unknown_registry_name(tmp_path):
    expect(tmp_path, model_yaml("{type: toy_mlpp}"), "model.backbone.type",
           "unknown backbones name 'toy_mlpp'; did you mean 'toy_mlp'?", "Known backbones:",
           "testkit::needs_width", error=UnknownNameError)
    expect(tmp_path, model_yaml(), "model.group", "unknown groups name 'toy_cycle'",
           overrides=["model.group=toy_cycle"])


def test_ambiguous_bare_name(tmp_path):
    registry("backbones").add("toy_mlp", toy_mlp, scope="othertest")
    try:
        expect(tmp_path, model_yaml(), "model.backbone.type", "is ambiguous",
               "othertest::toy_mlp, testkit::toy_mlp", error=AmbiguousNameError)
        validate({"backbone": {"type": "othertest::toy_mlp"}})
    finally:
        registry("backbones").remove("othertest::toy_mlp")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("big", "expected int for testkit::toy_mlp, got str 'big'"),
     ("2.5", "expected int for testkit::toy_mlp, got float 2.5"),
     ("true", "expected int for testkit::toy_mlp, got bool True")],
)
def test_wrong_type(tmp_path, value, expected):
    expect(tmp_path, model_yaml(f"{{type: toy_mlp, hidden: {value}}}"), "model.backbone.hidden",
           expected)


def test_wrong_type_literal_list_and_nested(tmp_path):
    expect(tmp_path, model_yaml("{type: toy_mlp, activation: gelu}"), "model.backbone.activation",
           "expected Literal['relu', 'silu']", "got str 'gelu'")
    expect(tmp_path, model_yaml("{type: toy_mlp, widths: [8, x]}"), "model.backbone.widths",
           "expected list[int] | None")
    validate(load_config(write(tmp_path, model_yaml("{type: toy_mlp, dropout: 1}"))))  # int ok
    sym = "{type: toy_avg, canonicalizer: {type: toy_canon, scale: high}}"
    expect(tmp_path, model_yaml(symmetrizer=sym), "model.symmetrizer.canonicalizer.scale",
           "expected float for testkit::toy_canon")


def test_missing_value(tmp_path):
    expect(tmp_path, model_yaml("{type: needs_width}"), "model.backbone.width",
           "missing required value (int) for testkit::needs_width")
    expect(tmp_path, model_yaml("{type: toy_mlp, hidden: '???'}"), "model.backbone.hidden",
           "missing value ('???')")


def test_context_names_are_not_missing():
    validate({"symmetrizer": {"type": "toy_avg"}})  # backbone, group come from context
    with pytest.raises(ConfigError, match=r"^model\.symmetrizer\.group: testkit::toy_avg needs"):
        build({"type": "toy_avg"}, "symmetrizers", key="model.symmetrizer",
              context={"backbone": None})


def test_bad_yaml_syntax_names_file_and_line(tmp_path):
    path = write(tmp_path, "model:\n  backbone: {type: toy_mlp\n  group: x\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:\d+: invalid YAML"):
        load_config(path)


@pytest.mark.parametrize("override", ["model.backbone.hidden", "+model.x=1", "a..b=1",
                                      "model.backbone.widths=[1, 2"])
def test_bad_override_syntax(tmp_path, override):
    with pytest.raises(ConfigError, match=re.escape(f"bad override '{override}'")):
        load_config(write(tmp_path, model_yaml()), [override])


@pytest.mark.parametrize("name", ["torch.nn.Linear", "mypkg.models:Net", "mypkg/net"])
def test_import_path_in_yaml_is_rejected(tmp_path, name):
    expect(tmp_path, model_yaml(f"{{type: '{name}'}}"), "model.backbone.type",
           "looks like a Python import path; YAML can only name registered parts")


def test_yaml_python_tag_is_rejected(tmp_path):
    path = write(tmp_path, "model:\n  backbone: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match=r":2:\d+: YAML tag .*python/object/apply:os.system"):
        load_config(path)


def test_bad_interpolation_names_key(tmp_path):
    expect(tmp_path, model_yaml("{type: toy_mlp, hidden: '${model.width}'}"),
           "model.backbone.hidden", "bad interpolation", "model.width")


def test_unknown_rep_in_spec(tmp_path):
    text = model_yaml().replace("{x: vector}", "{x: vectr}")
    expect(tmp_path, text, "model.in_spec.x", "unknown reps name 'vectr'; did you mean 'vector'?",
           error=UnknownNameError)
    text = model_yaml().replace("{x: vector}", "{x: {rep: tensor, rnk: 2}}")
    expect(tmp_path, text, "model.in_spec.x.rnk", "did you mean 'rank'?")


def test_structure_errors(tmp_path):
    expect(tmp_path, model_yaml("{hidden: 3}"), "model.backbone", "needs 'type'")
    expect(tmp_path, model_yaml("{tpye: toy_mlp}"), "model.backbone",
           "did you mean 'type' instead of 'tpye'?")
    expect(tmp_path, model_yaml(head="{type: toy_mlp}"), "model.head",
           "its key does not say which registry")
    expect(tmp_path, model_yaml("[1, 2]"), "model.backbone", "expected a backbones name")
    expect(tmp_path, model_yaml().replace("group: toy_cyclic",
           "group: {type: toy_product, factors: [toy_cyclic, toy_cyclc]}"),
           "model.group.factors.1", "unknown groups name 'toy_cyclc'", error=UnknownNameError)


def test_factory_errors_become_config_errors():
    with pytest.raises(ConfigError, match=r"^model\.backbone: testkit::picky: ValueError: k must") \
            as info:
        build({"type": "picky", "k": -1}, "backbones", key="model.backbone")
    assert isinstance(info.value.__cause__, ValueError)


def test_a_factorys_config_error_at_a_key_of_its_own_node_gets_the_whole_path():
    def fussy(opts: dict | None = None, where: str = "inner"):
        """Raises at a key relative to its node, or at a whole path."""
        raise ConfigError("opts.speed" if where == "inner" else "model.group", "too fast")

    registry("datasets").add("fussy", fussy, scope="testkit")
    try:
        with pytest.raises(ConfigError) as info:
            build({"type": "fussy"}, "datasets", key="data")
        assert info.value.key == "data.opts.speed"
        assert str(info.value) == "data.opts.speed: too fast"
        with pytest.raises(ConfigError) as info:  # already whole: kept
            build({"type": "fussy", "where": "outer"}, "datasets", key="data")
        assert info.value.key == "model.group"
    finally:
        registry("datasets").remove("testkit::fussy")


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    assert load_config({"a": "${b}", "b": 2}).a == 2


# -- overrides that replace or delete a node ------------------------------------------------
def test_mapping_override_replaces_the_node(tmp_path):
    path = write(tmp_path, GOOD)
    cfg = load_config(path, ["model.symmetrizer={type: toy_avg}"])
    assert dict(cfg.model.symmetrizer) == {"type": "toy_avg"}  # n_samples, canonicalizer gone
    validate(cfg)
    # a dotted key still sets one value and keeps its siblings
    cfg = load_config(path, ["model.symmetrizer.n_samples=3"])
    assert cfg.model.symmetrizer.n_samples == 3 and "canonicalizer" in cfg.model.symmetrizer
    # a mapping on a new key adds it; a scalar on a node replaces it with the scalar
    cfg = load_config(path, ["model.extra={a: 1}", "model.backbone=toy_mlp"])
    assert dict(cfg.model.extra) == {"a": 1} and cfg.model.backbone == "toy_mlp"


def test_delete_override_removes_a_key(tmp_path):
    path = write(tmp_path, GOOD)
    cfg = load_config(path, ["~model.symmetrizer.canonicalizer", "~train.steps",
                             "train.epochs=5"])
    assert "canonicalizer" not in cfg.model.symmetrizer and "steps" not in cfg.train
    cfg = load_config(path, ["~model.symmetrizer"])
    assert "symmetrizer" not in cfg.model


@pytest.mark.parametrize("item, key", [("~model.symmetrizer.nope", "model.symmetrizer.nope"),
                                       ("~model.nope.x", "model.nope"),
                                       ("~model.group.n", "model.group.n")])
def test_deleting_a_missing_key_names_it(tmp_path, item, key):
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}: cannot delete"):
        load_config(write(tmp_path, GOOD), [item])
