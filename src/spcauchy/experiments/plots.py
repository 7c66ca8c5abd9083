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


def save_gaps(ours: dict[str, dict[int, float]], published: dict[str, dict[int, float]],
              path: str | Path, ylabel: str, title: str) -> Path:
    """Per series, y against d on a log axis: ``ours[label][d]`` filled markers joined by solid
    lines, ``published[label][d]`` hollow markers joined by dashed lines in the colour of the
    series of the same label (a published series without one of ours gets its own colour)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {label: f"C{i % 10}" for i, label in enumerate(dict.fromkeys([*ours, *published]))}
    markers = "osD^v<>pP*Xh"
    for i, (label, points) in enumerate(ours.items()):
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], "-", marker=markers[i % len(markers)],
                color=colors[label], label=label)
    for label, points in published.items():
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], "--", marker="o", mfc="none", color=colors[label],
                label=f"{label} (published)")
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xscale("log")
    ds = sorted({x for s in (*ours.values(), *published.values()) for x in s})
    ax.set_xticks(ds, [str(x) for x in ds])
    ax.minorticks_off()
    ax.set_xlabel("latent dimension d")
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_figure(fig, path)


def save_paired_points(series: dict[str, dict[str, dict[int, tuple]]], xs: list[int],
                       path: str | Path, ylabel: str, title: str, span: float = 8.0) -> Path:
    """Per family, ``series[family]["ours"][x] = (mean, sd, n)`` (filled markers with error bars,
    n written beside) and ``series[family]["published"][x] = (mean, sd)`` (hollow), side by side
    at each x (lower is better). The axis covers our points and up to ``span`` above them; a
    published point outside is drawn at the edge as a triangle with its value written."""
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(series))
    ours = [m for s in series.values() for m, _, _ in s["ours"].values()]
    lo, hi = min(ours, default=0.0) - 2, max(ours, default=0.0) + 2
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    top, bottom = hi + span, lo
    for i, (family, s) in enumerate(series.items()):
        color = f"C{i}"
        for x, (m, sd, n) in s["ours"].items():
            pos = xs.index(x) + (i - (len(series) - 1) / 2) * width
            ax.errorbar(pos - width / 4, m, yerr=sd, fmt="o", color=color, capsize=2,
                        label=family if x == min(s["ours"]) else None)
            ax.annotate(str(n), (pos - width / 4, m), textcoords="offset points",
                        xytext=(-9, -3), fontsize=6, color=color)
            if x not in s["published"]:
                continue
            pm, psd = s["published"][x]
            if bottom <= pm <= top:
                ax.errorbar(pos + width / 4, pm, yerr=psd, fmt="o", mfc="none", color=color,
                            capsize=2)
            else:  # off scale: an arrowhead at the edge with the value
                edge = top if pm > top else bottom
                ax.plot(pos + width / 4, edge, "^" if pm > top else "v", mfc="none", color=color)
                ax.annotate(f"{pm:+.1f} ± {psd:.1f}", (pos + width / 4, edge), fontsize=6,
                            color=color, textcoords="offset points", ha="right",
                            xytext=(-4, -3))
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xticks(range(len(xs)), [f"d = {x}" for x in xs])
    ax.set_ylim(bottom - 1, top + 1)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
