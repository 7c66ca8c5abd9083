"""Pictures of a trained MNIST VAE: reconstructions, prior samples, interpolations, latent map,
training curves. Every function writes one PNG and returns its path.

Latent points are posterior modes from ``model.posterior`` (the same q used in training).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from .config import ConfigError
from .data import DATASETS, Split
from .evaluate import load_run
from .files import write_atomic
from .rundir import read_history


def _save(fig: plt.Figure, path: str | Path) -> None:
    """Write a figure as PNG through the one atomic writer, then free it."""
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)

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
    _save(fig, path)
    return path


def _test_split(run_dir: str | Path, n: int) -> tuple[nn.Module, Split, bool]:
    cfg, model = load_run(run_dir)
    test = DATASETS[cfg.dataset](cfg).test
    return model, test.head(n), model.latent.spherical


@torch.no_grad()
def save_reconstructions(run_dir: str | Path, path: str | Path, n: int = 16) -> Path:
    model, test, _ = _test_split(run_dir, n)
    recon = _images(model, model.posterior(test.x).mode)
    both = torch.cat([test.x.reshape(-1, 28, 28), recon])
    return _grid(both, 2, Path(path), "test digits (top) and reconstructions from the mode")


@torch.no_grad()
def save_samples(run_dir: str | Path, path: str | Path, n: int = 64) -> Path:
    torch.manual_seed(0)
    _, model = load_run(run_dir)
    z = model.prior(torch.zeros(1)).sample((n,))
    return _grid(_images(model, z), max(1, int(n**0.5)), Path(path), "decoded prior samples")


@torch.no_grad()
def save_interpolation(run_dir: str | Path, path: str | Path, a: int = 0, b: int = 1,
                       steps: int = 10) -> Path:
    model, test, spherical = _test_split(run_dir, max(a, b) + 1)
    if min(a, b) < 0 or max(a, b) >= len(test):
        raise ConfigError(f"test-image indices must be in 0..{len(test) - 1}, got {a} and {b}")
    z = model.posterior(test.x[[a, b]]).mode
    t = torch.linspace(0, 1, steps, dtype=z.dtype)
    path_z = model.latent.path(z[0], z[1], t)
    kind = "geodesic" if spherical else "linear"
    return _grid(_images(model, path_z), 1, Path(path), f"{kind} interpolation, test {a} → {b}")


@torch.no_grad()
def save_latent_map(run_dir: str | Path, path: str | Path, n: int = 5000) -> Path:
    """Posterior modes coloured by digit: a Mollweide map for S², else the top-2 PCA plane."""
    model, test, spherical = _test_split(run_dir, n)
    z = model.posterior(test.x).mode
    if spherical and z.shape[-1] == 3:
        fig, ax = _mollweide()
        pts = ax.scatter(*_lon_lat(z), c=test.y, cmap="tab10", s=2)
    else:
        centered = z - z.mean(0)
        xy = centered @ torch.linalg.svd(centered, full_matrices=False).Vh[:2].T
        fig, ax = plt.subplots(figsize=(5, 4.5))
        pts = ax.scatter(xy[:, 0], xy[:, 1], c=test.y, cmap="tab10", s=2)
        ax.set_title("posterior modes, first two principal components", fontsize=9)
    fig.colorbar(pts, ax=ax, ticks=range(10), shrink=0.7, label="digit")
    _save(fig, path)
    return Path(path)


def _mollweide() -> tuple[plt.Figure, plt.Axes]:
    fig = plt.figure(figsize=(7, 4))
    ax = fig.add_subplot(projection="mollweide")
    ax.grid(True)
    # every 60° of longitude, small: the default 30° labels overlap on a 7-inch map
    ax.set_xticks(torch.deg2rad(torch.arange(-120.0, 121.0, 60.0)).tolist())
    ax.tick_params(labelsize=7)
    return fig, ax


def _lon_lat(z: Tensor) -> tuple[Tensor, Tensor]:
    """Longitude and latitude of unit vectors z (n, 3)."""
    return torch.atan2(z[:, 1], z[:, 0]), torch.asin(z[:, 2].clamp(-1, 1))


def save_cluster_map(z: Tensor, assigned: Tensor, centers: Tensor, path: str | Path) -> Path:
    """Points z (n, 3) on S² coloured by mixture component, component directions (k, 3) marked."""
    fig, ax = _mollweide()
    ax.scatter(*_lon_lat(z.float()), c=assigned, cmap="tab20", s=2)
    ax.scatter(*_lon_lat(centers.float()), marker="x", c="black", s=40)
    ax.set_title("test latent directions by fitted component (x: component mean directions)",
                 fontsize=9)
    _save(fig, path)
    return Path(path)


def save_curves(run_dirs: list[str | Path], path: str | Path) -> Path:
    """Validation loss (negative ELBO) per epoch of each run."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in run_dirs:
        rows = read_history(run)
        epochs = [int(r["epoch"]) for r in rows]
        ax.plot(epochs, [float(r["train_loss"]) for r in rows], "--", alpha=0.5)
        ax.plot(epochs, [float(r["val_loss"]) for r in rows], label=Path(run).name,
                color=ax.lines[-1].get_color())
    ax.set_xlabel("epoch")
    ax.set_ylabel("negative ELBO (nats; dashed: train)")
    ax.legend(fontsize=8)
    _save(fig, path)
    return Path(path)
