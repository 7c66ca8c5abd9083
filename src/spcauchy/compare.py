"""A grid of runs (families × latent dims × seeds) with one results table.

Each cell lives in ``root/{family}-d{d}-s{seed}``: finished cells (``test_metrics.json``) are
skipped, interrupted ones resumed, so re-running the same command completes or reproduces the grid.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from . import checkpoint
from .config import Config
from .evaluate import evaluate_run
from .published import side_by_side
from .train import train
from .vae import LATENTS

COLUMNS = ("family", "d", "seed", "epochs", "log_lik", "elbo", "recon", "kl", "active_units",
           "k", "train_minutes")


def cell_dir(root: Path, family: str, d: int, seed: int) -> Path:
    return root / f"{family}-d{d}-s{seed}"


def run_cell(cfg: Config, root: Path) -> dict:
    out = cell_dir(root, cfg.family, cfg.latent_dim, cfg.seed)
    done = out / "test_metrics.json"
    if not done.exists():
        train(cfg, out, resume=True)
        evaluate_run(out)
    return read_cell(out)


def read_cell(out: Path) -> dict:
    ck = checkpoint.load(out / "last.pt")
    metrics = json.loads((out / "test_metrics.json").read_text())
    seconds = sum(h["seconds"] for h in ck["state"]["history"])  # wall time, across resumes
    return {"family": ck["config"]["family"], "d": ck["config"]["latent_dim"],
            "seed": ck["config"]["seed"], "epochs": ck["state"]["epoch"], **metrics,
            "train_minutes": seconds / 60}


def run_grid(base: Config, families: list[str], dims: list[int], seeds: list[int],
             root: str | Path) -> list[dict]:
    """Run every missing cell (dims outer, then families, then seeds), rewriting the tables
    after each one so a partial grid is always summarized. Several processes may work on
    disjoint parts of one grid directory: the tables list every finished cell."""
    root = Path(root)
    for d in dims:
        for family in families:
            for seed in seeds:
                run_cell(dataclasses.replace(base, family=family, latent_dim=d, seed=seed), root)
                write_tables(finished_cells(root), root, base)
    return finished_cells(root)


def finished_cells(root: Path) -> list[dict]:
    """Every evaluated cell under ``root`` (also those of other ``compare`` processes)."""
    rows = [read_cell(m.parent) for m in root.glob("*-d*-s*/test_metrics.json")]
    order = {name: i for i, name in enumerate(LATENTS)}
    return sorted(rows, key=lambda r: (r["d"], order.get(r["family"], len(order)), r["seed"]))


def write_tables(rows: list[dict], root: Path, base: Config) -> None:
    """results.csv (one row per cell), results.md (budget, ours, then ours beside published)."""
    with (root / "results.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    minutes = sum(r["train_minutes"] for r in rows)
    lines = [f"Protocol `{base.model}` ({base.dataset}): at most {base.epochs} epochs per cell"
             f" (early stop {base.early_stop or 'off'}), batch {base.batch_size}, lr {base.lr};"
             f" {minutes:.0f} training minutes (wall clock, shared machine) in total.",
             "Test metrics in nats per image; IS-LL = importance-sampled log-likelihood with k"
             " samples.", "",
             "| family | d | seed | epochs | IS-LL (k) | ELBO | recon | KL | active |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['family']} | {r['d']} | {r['seed']} | {r['epochs']} | "
                     f"{r.get('log_lik', float('nan')):.2f} ({r['k']}) | {r['elbo']:.2f} | "
                     f"{r['recon']:.2f} | {r['kl']:.2f} | {r['active_units']} |")
    text = "\n".join(lines) + "\n\n" + side_by_side(rows, base.model)
    (root / "results.md").write_text(text)
