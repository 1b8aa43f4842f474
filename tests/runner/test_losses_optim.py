import math

import pytest
import torch

from symkit.config import build
from symkit.errors import ConfigError


def test_losses_and_metrics_read_named_fields():
    out = {"y": torch.tensor([[1.0], [3.0]]), "logits": torch.tensor([[2.0, 0.0], [0.0, 1.0]])}
    batch = {"t": torch.tensor([[0.0], [1.0]]), "label": torch.tensor([0, 0])}
    assert build({"type": "mse", "output": "y", "target": "t"}, "losses", key="loss")(
        out, batch).item() == pytest.approx(2.5)
    assert build({"type": "mae", "output": "y", "target": "t"}, "metrics", key="metric")(
        out, batch).item() == pytest.approx(1.5)
    assert build({"type": "accuracy", "output": "logits"}, "metrics", key="metric")(
        out, batch).item() == pytest.approx(0.5)
    ce = build({"type": "cross_entropy", "output": "logits"}, "losses", key="loss")(out, batch)
    want = torch.nn.functional.cross_entropy(out["logits"], batch["label"])
    assert ce.item() == pytest.approx(want.item())


def test_loss_needs_output_field():
    with pytest.raises(ConfigError, match="loss.output"):
        build("mse", "losses", key="loss")


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_optimizers_take_params_from_context(name):
    p = torch.nn.Parameter(torch.ones(3))
    opt = build({"type": name, "lr": 0.1}, "optimizers", key="optimizer", context={"params": [p]})
    p.sum().backward()
    opt.step()
    assert (p < 1).all()


def _lrs(node, epochs=4):
    p = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build(node, "schedulers", key="scheduler",
                  context={"optimizer": opt, "epochs": epochs})
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_schedulers():
    assert _lrs("constant") == [1.0] * 4
    assert _lrs("none") == [1.0] * 4
    assert _lrs({"type": "step", "step_size": 2, "gamma": 0.5}) == [1.0, 1.0, 0.5, 0.5]
    cos = _lrs("cosine")
    assert cos[0] == 1.0 and cos[2] == pytest.approx(0.5) and cos == sorted(cos, reverse=True)
    warm = _lrs({"type": "warmup", "warmup_epochs": 2})
    assert warm[0] == pytest.approx(1 / 3) and warm[1] == pytest.approx(2 / 3)
    assert warm[2] == pytest.approx(1.0)
    assert warm[3] == pytest.approx(0.5 * (1 + math.cos(math.pi / 2)))
