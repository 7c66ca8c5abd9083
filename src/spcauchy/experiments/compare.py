"""A grid of runs (families × latent dims × seeds) with its results tables.

Each cell lives in ``root/{family}-d{d}-s{seed}``: finished cells (``test_metrics.json``) are
reused after checking that their saved config is the one asked for, interrupted ones resumed, so
re-running the same command completes or reproduces the grid. ``jobs > 1`` trains that many
cells at once in separate processes, the CPU cores split among them (on a GPU they share it).
A cell whose loss became non-finite is recorded in ``failure.json`` and listed as failed.
Tables are rebuilt from the committed per-cell files alone (``metrics.csv``,
``test_metrics.json``, ``failure.json``); checkpoints are not needed.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import dataclasses
import io
import json
import multiprocessing
import os
import re
from pathlib import Path

import torch

from ..latents import LATENTS
from . import plots
from .config import Config, ConfigError, check_same_run
from .datasets import dataset
from .evaluate import evaluate_run
from .files import LockedError, locked, write_atomic
from .published import save_loglik_figure, save_recon_figure, side_by_side, summary_table
from .rundir import read_config, read_history, read_json, read_machines, read_test_metrics
from .train import TERMS, NonFiniteLossError, train

COLUMNS = ("family", "factors", "d", "seed", "epochs", "best_recon", "best_epoch", "log_lik",
           "elbo", "recon", "kl", "active_units", "k", "n", "train_minutes", "failed")
# protocol (model) → summary of the finished cells beside the published numbers, and the figure
# of the same comparison where there is one: (writer, file name, alt text)
SUMMARIES = {"cnn": summary_table}
FIGURES = {"cnn": (save_recon_figure, "best-recon.png",
                   "best test reconstruction, ours and published"),
           "mlp": (save_loglik_figure, "is-ll.png",
                   "IS log-likelihood minus the Gaussian VAE's, ours and published")}
_CELL = re.compile(r"(?P<family>[a-z+]+)(?:-x(?P<factors>\d+))?-d(?P<d>\d+)-s(?P<seed>\d+)")


def cell_dir(root: Path, cfg: Config) -> Path:
    """``root/{family}-d{d}-s{seed}``; a product of m spheres: ``{family}-x{m}-d{d}-s{seed}``."""
    product = f"-x{cfg.factors}" if cfg.factors > 1 else ""
    return root / f"{cfg.family}{product}-d{cfg.latent_dim}-s{cfg.seed}"


def run_cell(cfg: Config, root: Path) -> Path | None:
    """Train and evaluate one cell unless it is finished (or failed) already; None if another
    process is working on it."""
    out = cell_dir(root, cfg)
    try:
        with locked(out):
            _run_cell(cfg, out)
    except LockedError:
        return None
    return out


def _run_cell(cfg: Config, out: Path) -> None:
    if (out / "config.json").exists():  # a finished or started cell must be the cell asked for
        check_same_run(read_config(out).to_dict(), cfg, what=f"grid cell {out}")
    if (out / "test_metrics.json").exists() or (out / "failure.json").exists():
        return
    try:
        train(cfg, out, resume=True, lock=False)
    except NonFiniteLossError as err:
        write_atomic(out / "failure.json", json.dumps({"error": str(err)}) + "\n")
        return
    evaluate_run(out)


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def run_grid(configs: list[Config], root: str | Path, *, jobs: int = 1,
             train_cells: bool = True) -> list[dict]:
    """Run every missing cell of ``configs`` (in order), rewriting the tables after each one so
    a partial grid is always summarized. Several ``compare`` processes may work on one grid
    directory (cells are locked): the tables list every finished cell. ``train_cells=False``
    only rebuilds the tables from the finished cells' files."""
    root = Path(root)
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if not train_cells:
        write_tables(root, configs[0])
        return finished_cells(root)
    if jobs == 1:
        for cfg in configs:
            run_cell(cfg, root)
            write_tables(root, configs[0])
        return finished_cells(root)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ctx = multiprocessing.get_context("spawn")  # no forked torch thread pools or CUDA state
    with cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init,
                                initargs=(max(1, (cores or 1) // jobs),)) as pool:
        futures = [pool.submit(run_cell, dataclasses.replace(cfg, progress=False), root)
                   for cfg in configs]
        for future in cf.as_completed(futures):
            future.result()  # a user error in one cell stops the grid with its message
            write_tables(root, configs[0])
    return finished_cells(root)


def read_cell(out: Path) -> dict:
    """One row of the tables from a cell's files: family (``spcauchy×5`` for a product of five
    spheres), factors, d and seed from the directory name, ``best_recon`` = the lowest
    per-epoch holdout reconstruction (the spCauchy paper's metric when the holdout is the test
    set), the final evaluation from ``test_metrics.json``."""
    match = _CELL.fullmatch(out.name)
    if match is None:
        raise ConfigError(f"{out} is not a grid cell (expected FAMILY[-xM]-dD-sSEED)")
    factors = int(match["factors"] or 1)
    row: dict = {"family": match["family"] + (f"×{factors}" if factors > 1 else ""),
                 "factors": factors, "d": int(match["d"]), "seed": int(match["seed"]),
                 "cell": out.name}
    history = read_history(out)
    row["epochs"] = len(history)
    row["train_minutes"] = sum(h["seconds"] for h in history) / 60  # wall time, across resumes
    row["machines"] = list(dict.fromkeys(e["machine"] for e in read_machines(out)))
    if history:
        best = min(history, key=lambda h: h["val_recon"])
        row["best_recon"], row["best_epoch"] = best["val_recon"], int(best["epoch"])
    if (out / "failure.json").exists():
        row["failed"] = str(read_json(out / "failure.json").get("error"))
    else:
        row |= read_test_metrics(out)
        missing = {"elbo", "recon", "kl", "active_units", "k"} - set(row)
        if missing:
            raise ConfigError(f"{out}/test_metrics.json: incomplete (no {', '.join(missing)})")
    return row


def finished_cells(root: Path) -> list[dict]:
    """Every evaluated or failed cell under ``root`` (also those of other ``compare`` processes)."""
    dirs = {p.parent for name in ("test_metrics.json", "failure.json")
            for p in root.glob(f"*-d*-s*/{name}")}
    rows = [read_cell(d) for d in dirs]
    order = {name: i for i, name in enumerate(LATENTS)}
    return sorted(rows, key=lambda r: (r["d"], order.get(r["family"], len(order)), r["family"],
                                       r["seed"]))


# the metrics of the per-cell table itself
_STANDARD = {"log_lik", "elbo", "recon", "kl", "active_units", "k", "n"}


def _num(row: dict, key: str, fmt: str = ".2f") -> str:
    value = row.get(key)
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else format(value, fmt)  # counts stay counts


def write_tables(root: Path, base: Config) -> None:
    """results.csv (one row per cell) and results.md (budget, per-cell table, summary)."""
    rows = finished_cells(root)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(root / "results.csv", text.getvalue())
    minutes = sum(r["train_minutes"] for r in rows)
    holdout = "test" if base.holdout == "test" else "validation"
    data = dataset(base)
    lines = [f"Protocol `{base.model}` ({base.dataset}, precision {base.precision}): at most "
             f"{base.epochs} epochs per cell (early stop {base.early_stop or 'off'}), batch "
             f"{base.batch_size}; {minutes:.0f} training minutes (wall clock, shared machine) "
             "in total.",
             f"Nats per {data.unit}. best recon = lowest per-epoch {holdout} reconstruction "
             f"(epoch); the other columns evaluate the {base.eval_model} model on the test set "
             f"(n {data.unit}s; IS-LL with k importance samples).",
             _machines_line(rows), "",
             "| family | d | seed | epochs | best recon (epoch) | IS-LL (k) | ELBO | recon | KL |"
             " active | n |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "failed" in r:
            lines.append(f"| {r['family']} | {r['d']} | {r['seed']} | {r['epochs']} | "
                         f"failed: {r['failed']} | | | | | | |")
            continue
        lines.append(f"| {r['family']} | {r['d']} | {r['seed']} | {r['epochs']} | "
                     f"{_num(r, 'best_recon')} ({r.get('best_epoch', '–')}) | "
                     f"{_num(r, 'log_lik')} ({r['k']}) | {r['elbo']:.2f} | {r['recon']:.2f} | "
                     f"{r['kl']:.2f} | {r['active_units']} | {r.get('n', '–')} |")
    done = [r for r in rows if "failed" not in r]
    # the dataset's own metrics (molecules: exact reconstruction, interpolation validity)
    own = [(label, key) for label, key in data.columns if key not in _STANDARD]
    if own and done:
        lines += ["", "| family | d | seed | " + " | ".join(label for label, _ in own) + " |",
                  "|---|---|---|" + "---|" * len(own)]
        lines += [f"| {r['family']} | {r['d']} | {r['seed']} | "
                  + " | ".join(_num(r, key, ".3f") for _, key in own) + " |" for r in done]
    lines += _learning_curves(root, done, dict((key, label) for label, key in data.columns),
                              data.unit)
    text = "\n".join(lines) + "\n\n"
    text += SUMMARIES.get(base.model, side_by_side)(done, base.model)
    if base.model in FIGURES and done:
        save, name, alt = FIGURES[base.model]
        save(done, root / name)
        text += f"\nThe same comparison, every d on one scale:\n\n![{alt}]({name})\n"
    write_atomic(root / "results.md", text)


def _machines_line(rows: list[dict]) -> str:
    """Which machines trained how many of the cells (``machine.json``); cells trained before
    machines were recorded are counted apart."""
    counts: dict[str, int] = {}
    for r in rows:
        for m in r["machines"]:
            counts[m] = counts.get(m, 0) + 1
    unknown = sum(not r["machines"] for r in rows)
    parts = [f"{m} ({n} cell{'s' * (n > 1)})" for m, n in counts.items()]
    if unknown:
        parts.append(f"not recorded for {unknown} cell{'s' * (unknown > 1)} (trained before "
                     "machines were recorded)")
    return "Trained on: " + ("; ".join(parts) or "–") + "."


def _learning_curves(root: Path, rows: list[dict], labels: dict[str, str], unit: str
                     ) -> list[str]:
    """``curve-{name}.png`` of every per-epoch held-out metric (config ``epoch_metrics``) of the
    cells ``rows``, and then of the held-out reconstruction in nats too, which keeps falling while
    a metric such as exact reconstruction still reads 0; the lines of results.md that show them."""
    dirs = [root / r["cell"] for r in rows]
    names = sorted({k[4:] for d in dirs for row in read_history(d)[:1] for k in row
                    if k.startswith("val_") and k[4:] not in TERMS})
    labels = {**labels, "recon": f"reconstruction (nats per {unit})"}
    lines = []
    for name in names + ["recon"] * bool(names):
        label = f"held-out {labels.get(name, name)}"
        plots.save_curves(dirs, root / f"curve-{name}.png", key=name, label=label)
        lines += ["", f"{label.capitalize()} after every epoch:", "",
                  f"![{label} per epoch](curve-{name}.png)"]
    return lines
