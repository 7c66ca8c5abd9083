"""Atomic, safe checkpoints: written with :func:`~spcauchy.files.write_atomic`, read with
``weights_only`` (tensors, numbers, strings and containers only: a checkpoint cannot run code).

Any file that is not a complete checkpoint of ours (truncated, empty, random bytes, a directory,
a pickle with other objects, missing entries) is a :class:`CheckpointError` with one readable
line; the file itself is never changed.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError
from .files import write_atomic


class CheckpointError(ConfigError):
    """A file that is not a readable checkpoint (reported as one line by the CLI)."""


def save(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` so that ``path`` always holds either the old or the new complete file."""
    write_atomic(path, lambda fh: torch.save(state, fh))


def load(path: str | Path, map_location: str | torch.device = "cpu",
         keys: Iterable[str] = ()) -> dict[str, Any]:
    """The dict saved at ``path``, which must hold ``keys``; anything else is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint file there")
    try:
        with warnings.catch_warnings():
            # a foreign pickle protocol: the safe loader either reads it or refuses it below
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # garbage, or a pickle that builds other objects than tensors and plain data (code)
        raise CheckpointError(f"{path}: not a checkpoint of ours, refused by the safe loader "
                              "(it reads tensors and plain data only)") from None
    except Exception as err:  # arbitrary bytes break the reader in arbitrary ways
        reason = str(err).splitlines()[0].split(". ")[0][:120] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a checkpoint (holds a {type(state).__name__})")
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a complete checkpoint (missing {', '.join(missing)})")
    return state


def load_weights(model: torch.nn.Module, weights: Any, path: str | Path) -> None:
    """``model.load_state_dict(weights)``; a mismatch (keys, shapes) is a CheckpointError."""
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path}: its model entry is not a state dict")
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, KeyError) as err:
        first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: weights do not fit the model its config describes "
                              f"({first})") from None
