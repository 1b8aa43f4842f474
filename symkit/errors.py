"""symkit's own exceptions: every one names the config key, field or tensor at fault."""

from __future__ import annotations

__all__ = [
    "SymkitError",
    "ConfigError",
    "RegistryError",
    "UnknownNameError",
    "AmbiguousNameError",
    "DuplicateNameError",
    "PluginError",
    "SpecError",
    "DataError",
    "SampleError",
    "TrackingError",
    "CheckpointError",
    "TrainingError",
]


class SymkitError(Exception):
    """Base class of every error symkit raises on purpose."""


class ConfigError(SymkitError, ValueError):
    """A configuration value is wrong; ``key`` is its dotted path (``model.backbone.hidden``)."""

    def __init__(self, key: str | None, message: str):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class RegistryError(ConfigError, LookupError):
    """A name could not be resolved in a registry category."""


class UnknownNameError(RegistryError):
    """No part of that name exists in the category."""


class AmbiguousNameError(RegistryError):
    """A bare name matches parts of several scopes; use ``scope::name``."""


class DuplicateNameError(RegistryError):
    """Two origins registered the same scoped name."""


class PluginError(SymkitError):
    """A plugin failed to load or register (fatal only in strict mode)."""


class SpecError(SymkitError, ValueError):
    """A sample does not match its spec; the message names the field and the expected shape."""

    def __init__(self, field: str | None, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class DataError(SymkitError, ValueError):
    """A data set or batch is unusable (empty, NaN/Inf, wrong layout)."""


class SampleError(DataError):
    """One sample of a batch cannot be symmetrized (non-finite values, no valid frame, ...).

    ``index`` is the sample's position in the batch (``None`` when the whole batch is at fault)
    and ``field`` the input field read; the message names both and the reason.
    """

    def __init__(self, index: int | None, message: str, *, field: str | None = None):
        self.index, self.field = index, field
        where = "" if index is None else f"sample {index}"
        if field is not None:
            where = f"{where} field '{field}'" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)


class TrackingError(SymkitError):
    """The tracking store cannot be reached or written."""


class CheckpointError(SymkitError):
    """A checkpoint cannot be written or read."""


class TrainingError(SymkitError):
    """Training cannot go on (for example a non-finite loss)."""
