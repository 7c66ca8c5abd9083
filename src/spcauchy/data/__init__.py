"""Dataset registry: ``DATASETS[name](cfg) -> DataBundle`` (train / val / test splits)."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config
from . import mnist, smiles
from .split import DataBundle, Examples, Split

# Data seeds are constants: every run is scored on the same binary test images, and every run of
# a SMILES preset sees the same molecules.
DATASETS: dict[str, Callable[[Config], DataBundle]] = {
    "mnist": lambda cfg: mnist.load(cfg.data_path, binarize=cfg.binarize,
                                    train_limit=cfg.train_limit, holdout=cfg.holdout),
    "smiles": lambda cfg: smiles.load_bundle(cfg.source, n_train=cfg.train_limit,
                                             max_len=cfg.max_len,
                                             representation=cfg.representation,
                                             vocab=cfg.vocab, n_test=cfg.eval_limit,
                                             n_val=cfg.val_limit, holdout=cfg.holdout),
}

__all__ = ["DATASETS", "DataBundle", "Examples", "Split"]
