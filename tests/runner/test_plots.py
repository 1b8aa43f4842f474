"""The run's PNG plots."""

import pytest


@pytest.mark.parametrize("errors, log", [
    ({"rotation": 1.3e-7, "reflection": 1.2e-7, "all": 1e-2}, True),  # spans 5 decades: log
    ({"rotation": 1.3e-7, "reflection": 0.0, "all": 1.2e-7}, False),  # an exact 0: linear
    ({"rotation": 0.4, "all": 0.3}, False),
])
def test_equivariance_plot_axis_starts_at_zero_or_is_logarithmic(tmp_path, monkeypatch, errors,
                                                                  log):
    import matplotlib.pyplot as plt

    from symkit.runner import plots

    seen = {}
    monkeypatch.setattr(plt, "close", lambda fig: seen.setdefault("ax", fig.axes[0]))
    assert plots.equivariance_bars(errors, tmp_path / "eq.png").is_file()
    ax = seen["ax"]
    low, high = ax.get_ylim()
    if log:
        assert ax.get_yscale() == "log" and low <= min(errors.values()) / 10
    else:
        assert ax.get_yscale() == "linear" and low == 0 and high > max(errors.values())
    labels = [t.get_text() for t in ax.texts]
    assert labels == [f"{v:.2g}" for v in errors.values()]  # each bar says its value
