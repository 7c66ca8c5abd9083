"""Atomic, safe checkpoints: written with :func:`~spcauchy.files.write_atomic`, read with
``weights_only`` (tensors, numbers, strings and containers only: a checkpoint cannot run code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .files import write_atomic


def save(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` so that ``path`` always holds either the old or the new complete file."""
    write_atomic(path, lambda fh: torch.save(state, fh))


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Tensors, numbers, strings and containers only: a checkpoint cannot run code."""
    return torch.load(path, map_location=map_location, weights_only=True)
