"""Figure helpers shared by the datasets and the report: the one PNG writer, S² maps, the
cluster map of ``spcauchy cluster`` and training curves. Every ``save_*`` writes one PNG and
returns its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import torch
from torch import Tensor

from .files import write_atomic
from .rundir import read_history


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Write a figure as PNG through the one atomic writer, then free it."""
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return Path(path)


def mollweide() -> tuple[plt.Figure, plt.Axes]:
    fig = plt.figure(figsize=(7, 4))
    ax = fig.add_subplot(projection="mollweide")
    ax.grid(True)
    # every 60° of longitude, small: the default 30° labels overlap on a 7-inch map
    ax.set_xticks(torch.deg2rad(torch.arange(-120.0, 121.0, 60.0)).tolist())
    ax.tick_params(labelsize=7)
    return fig, ax


def lon_lat(z: Tensor) -> tuple[Tensor, Tensor]:
    """Longitude and latitude of unit vectors z (n, 3)."""
    return torch.atan2(z[:, 1], z[:, 0]), torch.asin(z[:, 2].clamp(-1, 1))


def save_cluster_map(z: Tensor, assigned: Tensor, centers: Tensor, path: str | Path) -> Path:
    """Points z (n, 3) on S² coloured by mixture component, component directions (k, 3) marked."""
    fig, ax = mollweide()
    ax.scatter(*lon_lat(z.float()), c=assigned, cmap="tab20", s=2)
    ax.scatter(*lon_lat(centers.float()), marker="x", c="black", s=40)
    ax.set_title("test latent directions by fitted component (x: component mean directions)",
                 fontsize=9)
    return save_figure(fig, path)


def save_curves(run_dirs: list[str | Path], path: str | Path, key: str = "loss",
                label: str = "negative ELBO (nats)") -> Path:
    """``val_{key}`` per epoch of each run (solid), and ``train_{key}`` where recorded (dashed)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    dashed = False
    for run in run_dirs:
        rows = [r for r in read_history(run) if f"val_{key}" in r]
        epochs = [int(r["epoch"]) for r in rows]
        marker = "o" if len(rows) < 3 else None  # a line through one or two points is invisible
        ax.plot(epochs, [r[f"val_{key}"] for r in rows], label=Path(run).name, marker=marker)
        if rows and f"train_{key}" in rows[0]:
            dashed = True
            ax.plot(epochs, [r[f"train_{key}"] for r in rows], "--", alpha=0.5, marker=marker,
                    color=ax.lines[-1].get_color())
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{label}{'; dashed: train' if dashed else ''}")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
