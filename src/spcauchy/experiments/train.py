"""The training loop, shared by every dataset and model.

It needs only ``model(batch) -> {"loss", "recon", "kl", "elbo"}`` (scalar tensors) and a
``DataBundle``. Each epoch ends with a validation pass, a per-epoch CSV row, and atomic
checkpoints: ``last.pt`` (model, optimizer, scheduler, config, history and every process's RNG
state, for ``resume``) and ``best.pt`` (weights at the best validation value of ``monitor``: the
-ELBO, or recon + β KL for a β-VAE with ``kl_end`` = β < 1, or the reconstruction term).
``config.json`` records the run's config in readable form, ``machine.json`` the hardware it
trained on. With ``epoch_metrics`` on, the
dataset's held-out metrics (e.g. exact reconstruction of molecules) join each epoch's row.
Batches come from generators seeded by (seed, epoch, rank), so a resumed run reproduces the
uninterrupted one exactly.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import checkpoint, machine
from .annealing import epoch_kl_weight, kl_weight
from .config import Config, ConfigError, apply, check_same_run
from .data.split import DataBundle, Examples
from .datasets import DATASETS, build_model, dataset, load_data
from .distributed import Context, all_sum, gather_objects, setup
from .files import LockedError, locked, write_atomic
from .models.vae import native_bf16
from .progress import progress

TERMS = ("loss", "recon", "kl", "elbo")
CHECKPOINT_KEYS = ("config", "model", "optimizer", "scheduler", "state", "rng")

OPTIMIZERS: dict[str, Callable[[Any, Config], torch.optim.Optimizer]] = {
    "adam": lambda params, c: torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay),
    "adamw": lambda params, c: torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay),
}


# config ``monitor`` → the validation value that selects best.pt, drives the plateau schedule and
# early stopping (lower is better).
MONITORS: dict[str, Callable[[dict[str, float], Config], float]] = {
    "objective": lambda va, cfg: va["recon"] + cfg.kl_end * va["kl"],
    "recon": lambda va, cfg: va["recon"],
}


def _beta(cfg: Config, step: int, steps_per_epoch: int = 1) -> float:
    """KL weight of training step ``step`` (``kl_unit`` epochs: of its epoch, ``steps_per_epoch``
    steps long); a bad schedule is a :class:`ConfigError`."""
    try:
        if cfg.kl_unit == "epochs":
            return epoch_kl_weight(step // steps_per_epoch, schedule=cfg.kl_schedule,
                                   warmup_epochs=cfg.kl_warmup, start=cfg.kl_start,
                                   end=cfg.kl_end, delay=cfg.kl_delay)
        return kl_weight(step, schedule=cfg.kl_schedule, warmup_steps=cfg.kl_warmup,
                         start=cfg.kl_start, end=cfg.kl_end, delay=cfg.kl_delay)
    except ValueError as err:
        raise ConfigError(str(err)) from None


class NonFiniteLossError(RuntimeError):
    """The training or validation loss became NaN/Inf: the parameters were not updated and no
    checkpoint of that epoch was written."""


def run_epoch(model: nn.Module, split: Examples, cfg: Config, ctx: Context, epoch: int,
              optimizer: torch.optim.Optimizer | None = None) -> dict[str, float]:
    """One pass over this process's shard; returns example-weighted means over all processes.

    The reported loss is the negative ELBO; training descends the KL-annealed objective (see
    ``spcauchy.experiments.annealing``), whose weight β is a function of the global step. During the
    first ``lr_warmup`` global steps the learning rate rises linearly to ``lr``.

    In training the step's statistics are summed across processes *before* the optimizer step,
    so a non-finite loss on any process stops every process before a parameter changes.
    """
    train = optimizer is not None
    model.train(train)
    total = torch.zeros(len(TERMS) + 1, dtype=torch.float64, device=ctx.device)
    batches = split.batches(cfg.batch_size, seed=cfg.seed, epoch=epoch, shuffle=train,
                            rank=ctx.rank, world=ctx.world)
    n_steps = math.ceil(len(split) // ctx.world / cfg.batch_size)
    bar = progress(batches, n_steps, f"epoch {epoch + 1} {'train' if train else 'val'}",
                   enabled=cfg.progress and ctx.main)
    for step, batch in enumerate(bar):
        batch = {k: v.to(ctx.device) for k, v in batch.items()}
        n = batch["x"].shape[0]
        with torch.set_grad_enabled(train):
            out = model(batch)
        stats = torch.stack([out[k].detach().double() * n for k in TERMS]
                            + [torch.tensor(float(n), dtype=torch.float64, device=ctx.device)])
        if train:
            # annealed objective -(recon term) - β KL; with β = 1 it is exactly out["loss"]
            global_step = epoch * n_steps + step
            beta = _beta(cfg, global_step, n_steps)
            if global_step < cfg.lr_warmup:
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * (global_step + 1) / cfg.lr_warmup
            optimizer.zero_grad(set_to_none=True)
            (out["loss"] + (beta - 1.0) * out["kl"]).backward()
            stats = all_sum(stats, ctx)
            if not torch.isfinite(stats).all():
                means = (stats[:-1] / stats[-1]).tolist()
                terms = ", ".join(f"{k}={v:.4g}" for k, v in zip(TERMS, means, strict=True))
                raise NonFiniteLossError(
                    f"non-finite loss at epoch {epoch + 1}, step {step + 1} ({terms}); "
                    "parameters not updated")
            if cfg.grad_clip:  # after the finiteness check: never clip a NaN into the weights
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
        total += stats
    if not train:
        total = all_sum(total, ctx)
    return {k: (total[i] / total[-1]).item() for i, k in enumerate(TERMS)}


def _epoch_metrics(model: nn.Module, cfg: Config, val: Examples, ctx: Context
                   ) -> dict[str, float]:
    """The dataset's per-epoch held-out metrics (``Dataset.epoch_metrics``), computed by the
    first process and shared, so every process keeps the same history."""
    values = None
    if ctx.main:
        model.eval()
        with torch.no_grad():
            values = dataset(cfg).epoch_metrics(model, cfg, val)
    return gather_objects(values, ctx)[0]


def _rng_state(ctx: Context) -> list[torch.Tensor]:
    """Every process's torch RNG state (latent noise differs per process)."""
    state = torch.get_rng_state()
    if ctx.device.type == "cuda":
        state = torch.cat([state, torch.cuda.get_rng_state(ctx.device)])
    return gather_objects(state, ctx)  # type: ignore[return-value]


def _set_rng_state(states: list[torch.Tensor], ctx: Context) -> None:
    if len(states) != ctx.world:
        raise ConfigError(f"checkpoint was written by {len(states)} process(es), "
                          f"resume with the same number (now {ctx.world})")
    state = states[ctx.rank].cpu()
    cpu = torch.get_rng_state().numel()
    torch.set_rng_state(state[:cpu])
    if ctx.device.type == "cuda":
        torch.cuda.set_rng_state(state[cpu:], ctx.device)


def _write_csv(history: list[dict[str, float]], path: Path) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_atomic(path, text.getvalue())


class RunInUseError(ConfigError):
    """Another process is training in the same run directory."""


def train(cfg: Config, out_dir: str | Path, *, resume: bool = False,
          data: DataBundle | None = None, lock: bool = True) -> list[dict[str, float]]:
    """Train (or continue training) the model ``cfg`` describes; returns the epoch history.

    ``resume``: continue from ``out_dir/last.pt`` if it exists; a finished run returns at once.
    Without it an existing run directory is an error, so results are never overwritten.
    The first process holds the directory's lock (``lock=False``: the caller holds it), so a
    second ``train`` on the same directory fails at once with :class:`RunInUseError`.
    """
    out = Path(out_dir)
    if not lock or os.environ.get("RANK", "0") != "0":
        return _train(cfg, out, resume, data)
    try:
        with locked(out):
            return _train(cfg, out, resume, data)
    except LockedError as err:
        raise RunInUseError(f"{err}: one training process per run directory") from None


def _train(cfg: Config, out: Path, resume: bool, data: DataBundle | None
           ) -> list[dict[str, float]]:
    last = out / "last.pt"
    if last.exists() and not resume:
        raise ConfigError(f"{out} already holds a run; pass --resume or choose another --out")
    # bad names and a bad KL schedule fail before any data is loaded
    for field, names in (("optimizer", OPTIMIZERS), ("dataset", DATASETS)):
        if getattr(cfg, field) not in names:
            raise ConfigError(f"unknown {field} {getattr(cfg, field)!r}; choose from "
                              + ", ".join(names))
    _beta(cfg, 0)
    if cfg.epoch_metrics and dataset(cfg).epoch_metrics is None:
        raise ConfigError(f"epoch_metrics: dataset {cfg.dataset} defines no per-epoch metrics")
    for tmp in out.glob(".*.tmp"):  # left by a kill during a write (we hold the lock)
        tmp.unlink(missing_ok=True)
    ctx = setup(cfg.device)
    if cfg.precision == "bf16" and ctx.main and not native_bf16(ctx.device):
        warnings.warn(f"precision=bf16 on a {ctx.device.type} without bfloat16 arithmetic: "
                      "autocast emulates it, which is slower than precision=fp32", stacklevel=2)
    torch.manual_seed(cfg.seed)
    data = data or load_data(cfg)
    cfg = apply(cfg, data.config, source="data")
    model = build_model(cfg).to(ctx.device)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg)
    scheduler = (torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=cfg.plateau_factor, patience=cfg.plateau_patience)
        if cfg.plateau_factor else None)
    state: dict[str, Any] = {"epoch": 0, "best": math.inf, "bad_epochs": 0, "history": []}
    torch.manual_seed(cfg.seed + 1 + ctx.rank)  # latent noise: independent per process
    if resume and last.exists():
        ck = checkpoint.load(last, ctx.device, keys=CHECKPOINT_KEYS)
        check_same_run(ck["config"], cfg)
        checkpoint.load_weights(model, ck["model"], last)
        try:
            optimizer.load_state_dict(ck["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(ck["scheduler"])
            state = {k: ck["state"][k] for k in ("epoch", "best", "bad_epochs", "history")}
            history = list(state["history"])
            _set_rng_state(ck["rng"], ctx)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
            raise checkpoint.CheckpointError(f"{last}: corrupt training state ({err})") from None
        if ctx.main and history:  # a kill after metrics.csv, before last.pt
            _write_csv(history, out / "metrics.csv")
    if ctx.main:  # after the resume check: a refused resume changes no file
        write_atomic(out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        if data.info:
            write_atomic(out / "data.json", json.dumps(data.info, indent=2) + "\n")
    net = DistributedDataParallel(model) if ctx.world > 1 else model

    def more() -> bool:
        return state["epoch"] < cfg.epochs and not (cfg.early_stop
                                                    and state["bad_epochs"] >= cfg.early_stop)

    if ctx.main and more():  # the hardware of the epochs to come (tables name it)
        machine.record(out, machine.describe(ctx.device), ctx.world, state["epoch"] + 1)
    while more():
        epoch, start = state["epoch"], time.perf_counter()
        try:
            tr = run_epoch(net, data.train, cfg, ctx, epoch, optimizer)
            with torch.no_grad():
                va = run_epoch(model, data.val, cfg, ctx, epoch)
            if not all(math.isfinite(v) for v in va.values()):
                raise NonFiniteLossError(f"non-finite validation loss at epoch {epoch + 1} "
                                         f"({', '.join(f'{k}={v:.4g}' for k, v in va.items())})")
        except NonFiniteLossError as err:
            kept = (f"the checkpoint of epoch {epoch} is kept" if last.exists()
                    else "no checkpoint was written")
            raise NonFiniteLossError(f"{err}; {kept}") from None
        if cfg.epoch_metrics:
            va |= _epoch_metrics(model, cfg, data.val, ctx)
        target = MONITORS[cfg.monitor](va, cfg)
        improved = target < state["best"]
        state["best"] = min(state["best"], target)
        state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
        if scheduler is not None:
            scheduler.step(target)
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, **{f"train_{k}": v for k, v in tr.items()},
                                 **{f"val_{k}": v for k, v in va.items()},
                                 "lr": optimizer.param_groups[0]["lr"],
                                 "seconds": time.perf_counter() - start})
        rng = _rng_state(ctx)
        if ctx.main:
            # last.pt last: a kill before it redoes this epoch, and the resume rewrites the
            # epoch table from the checkpoint
            if improved:
                checkpoint.save({"config": cfg.to_dict(), "model": model.state_dict(),
                                 "epoch": epoch + 1}, out / "best.pt")
            _write_csv(state["history"], out / "metrics.csv")
            checkpoint.save({"config": cfg.to_dict(), "model": model.state_dict(),
                             "optimizer": optimizer.state_dict(),
                             "scheduler": scheduler.state_dict() if scheduler else {},
                             "state": state, "rng": rng}, last)
    return state["history"]
