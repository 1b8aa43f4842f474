"""Input checks of a model against its spec, in the dense and the ragged layout, and foreign
batch types turned into samples by registered adapters."""

from __future__ import annotations

import pytest
import torch

from symkit import _sample_check as sc
from symkit.errors import SpecError
from symkit.registry import registry
from symkit.reps import point, scalar
from symkit.spec import Field, Spec

GROUP = registry("groups").build("e3")
SPEC = Spec({"pos": Field(point(), nodes=True), "charge": Field(scalar(), nodes=True)})


def ragged(total=7, b=3):
    return {"pos": torch.randn(total, 3), "charge": torch.ones(total, 1),
            "batch": torch.tensor([0, 0, 1, 1, 1, 2, 2][:total]), "num_graphs": b}


def test_a_good_ragged_batch_passes():
    sc.check_sample(SPEC, GROUP, ragged(), dtype=torch.float32)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("charge"), r"charge: missing field \(expected shape \(total_nodes, ...\)"),
    (lambda s: s.update(pos=torch.randn(7, 2)),
     r"pos: expected shape \(total_nodes, ..., 3\), got \(7, 2\)"),
    (lambda s: s.update(pos=torch.randn(6, 3)), r"pos: .* one row per entry of 'batch' \(7"),
    (lambda s: s.update(pos=torch.ones(7, 3, dtype=torch.long)),
     r"pos: expected a floating-point tensor"),
    (lambda s: s.update(charge=torch.ones(7, 1, dtype=torch.float64)),
     r"charge: has dtype torch.float64 but field 'pos' has torch.float32"),
])
def test_ragged_errors_name_the_field_and_expected_shape(change, message):
    sample = ragged()
    change(sample)
    with pytest.raises(SpecError, match=message):
        sc.check_sample(SPEC, GROUP, sample)


def test_model_dtype_is_checked():
    with pytest.raises(SpecError, match="pos: has dtype torch.float32 but the model computes "
                       "in torch.float64"):
        sc.check_sample(SPEC, GROUP, ragged(), dtype=torch.float64)


def test_registered_adapters_turn_foreign_batches_into_samples():
    class Foreign:
        def __init__(self, sample):
            self.sample = sample

    def adapter(obj):
        return obj.sample if isinstance(obj, Foreign) else None

    sample = ragged()
    assert isinstance(sc.as_sample(Foreign(sample)), Foreign)  # no adapter yet: unchanged
    sc.register_sample_adapter(adapter)
    try:
        sc.register_sample_adapter(adapter)
        assert sc._ADAPTERS.count(adapter) == 1
        assert sc.as_sample(Foreign(sample)) is sample
        assert sc.as_sample(sample) is sample
        assert sc.as_sample(3) == 3
    finally:
        sc._ADAPTERS.remove(adapter)
