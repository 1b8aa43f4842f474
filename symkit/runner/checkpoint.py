"""Atomic checkpoint files: ``last.pt`` (everything needed to resume) and ``best.pt`` (weights).

A write goes to a temporary file in the same directory, is flushed and fsynced, then renamed
over the target with :func:`os.replace`, so a reader (or a resumed run after SIGKILL) sees the
old file or the new one, never half of one. Files are read back with ``weights_only=True``.

Test hook: with ``SYMKIT_CHECKPOINT_PAUSE=SECONDS`` in the environment, :func:`save_atomic`
sleeps that long after the temporary file is complete and before the rename, so the fault tests
can SIGKILL a run in the middle of a checkpoint write (``tests/reliability``).
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from symkit.errors import CheckpointError

__all__ = ["LAST", "BEST", "save_atomic", "load_checkpoint", "rng_state", "set_rng_state"]

LAST = "last.pt"
BEST = "best.pt"
PAUSE_ENV = "SYMKIT_CHECKPOINT_PAUSE"


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (temp file, fsync, rename).

    Raises:
        CheckpointError: the file system refused the write (full disk, no permission); the
            previous file at ``path``, if any, is left as it was.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        if os.environ.get(PAUSE_ENV):
            time.sleep(float(os.environ[PAUSE_ENV]))
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CheckpointError(_write_error(path, exc)) from exc
        raise
    _fsync_dir(path.parent)
    return path


def _write_error(path: Path, exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    why = f"{exc.strerror or exc}" + (f" ({name})" if name else "")
    kept = f"the previous {path.name} is intact" if path.is_file() else f"no {path.name} written"
    hint = "; free some disk space or set train.checkpoint_dir" if exc.errno == errno.ENOSPC else ""
    return f"cannot write checkpoint {path}: {why}; {kept}{hint}"


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_atomic` (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one error for the user
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc


def rng_state() -> dict[str, Any]:
    """The torch CPU (and CUDA) generator states, to restore on resume."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
