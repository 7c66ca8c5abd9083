"""Dataset registry: ``DATASETS[name](cfg) -> DataBundle`` (train / val / test splits)."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config
from . import mnist
from .split import DataBundle, Split

DATASETS: dict[str, Callable[[Config], DataBundle]] = {
    # The binarization seed is a constant: every run is scored on the same binary test images.
    "mnist": lambda cfg: mnist.load(cfg.data_path, binarize=cfg.binarize,
                                    train_limit=cfg.train_limit),
}

__all__ = ["DATASETS", "DataBundle", "Split"]
