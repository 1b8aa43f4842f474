"""Parameter checks for group constructors, raising :class:`~symkit.errors.ConfigError`."""

from __future__ import annotations

from symkit.errors import ConfigError

__all__ = ["positive_int", "positive_float"]


def positive_int(group: str, name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``, else a ConfigError naming the group and parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            None, f"{group}: {name} must be an integer >= {minimum}, got {value!r}"
        )
    return int(value)


def positive_float(group: str, name: str, value: object) -> float:
    """``value`` as a float ``> 0``, else a ConfigError naming the group and parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(None, f"{group}: {name} must be a number > 0, got {value!r}")
    return float(value)
