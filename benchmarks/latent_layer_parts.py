"""Where the Distribution API path of the spCauchy latent layer spends its time, at the small
dimensions where per-operation overhead dominates: each part of the step (forward + backward,
one thread, float32) as a ratio to the whole eager Gaussian layer, timed side by side as in
``latent_layer.py``.

Parts: the user's ``F.normalize`` alone; ``SphericalCauchy(...).rsample()`` from a unit leaf
(construction, noise, Möbius node); ``spcauchy_kl_uniform`` alone; the whole API path; the fused
layer (normalize, sample and KL in one node).

    python benchmarks/latent_layer_parts.py [--out results/benchmarks/latent_layer_parts.md]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from latent_layer import gaussian, spcauchy, spcauchy_fused
from spcauchy import SphericalCauchy, spcauchy_kl_uniform
from spcauchy.experiments.machine import describe

CELLS = ((128, 3), (128, 9), (1024, 3), (1024, 9))
Step = tuple[Callable[[], torch.Tensor], list[torch.Tensor]]


def normalize_only(batch: int, p: int) -> Step:
    direction = torch.randn(batch, p, requires_grad=True)
    return (lambda: F.normalize(direction, dim=-1).sum()), [direction]


def rsample_only(batch: int, p: int) -> Step:
    loc = F.normalize(torch.randn(batch, p), dim=-1).requires_grad_()
    rho_logit = torch.randn(batch, requires_grad=True)

    def step() -> torch.Tensor:
        q = SphericalCauchy(loc, rho_logit=rho_logit, validate_args=False)
        return q.rsample().sum()

    return step, [loc, rho_logit]


def kl_only(batch: int, p: int) -> Step:
    rho_logit = torch.randn(batch, requires_grad=True)
    return (lambda: spcauchy_kl_uniform(p, rho_logit=rho_logit).sum()), [rho_logit]


PARTS: dict[str, Callable[[int, int], Step]] = {
    "gaussian layer": gaussian,
    "F.normalize": normalize_only,
    "rsample from a unit leaf": rsample_only,
    "KL to the uniform": kl_only,
    "API path (all three)": spcauchy,
    "fused layer": spcauchy_fused,
}


def time_cell(batch: int, p: int, rounds: int, min_run_time: float) -> dict[str, float]:
    """Seconds per forward + backward of each part: best of ``rounds`` interleaved medians of
    this thread's CPU time."""
    timers = {}
    for name, make in PARTS.items():
        torch.manual_seed(0)
        step, params = make(batch, p)

        def run(step=step, params=params) -> None:
            for t in params:
                t.grad = None
            step().backward()

        for _ in range(10):  # warm-up (tables, allocator)
            run()
        timers[name] = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=1,
                                       timer=time.thread_time)
    best = dict.fromkeys(PARTS, math.inf)
    for _ in range(rounds):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.blocked_autorange(min_run_time=min_run_time).median)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path("results/benchmarks/latent_layer_parts.md"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-run-time", type=float, default=0.2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for batch, p in CELLS:
        t = time_cell(batch, p, args.rounds, args.min_run_time)
        base = t["gaussian layer"]
        rows.append(f"| {batch} | {p} | "
                    + " | ".join(f"{v * 1e6:.0f} µs ({v / base:.2f}×)" for v in t.values())
                    + " |")
        print(rows[-1], flush=True)
    text = "\n".join([
        "# Latent layer, part by part", "",
        "Forward + backward of each part alone, float32, CPU, 1 thread; thread CPU time per step "
        f"(best of {args.rounds} interleaved rounds of medians) and ratio to the whole eager "
        "Gaussian layer. Each part is timed with its own `.sum().backward()`, so the parts of "
        "the API path add up to more than the path (the shared fixed cost of a backward pass is "
        "counted in each).",
        f"Machine: {describe(torch.device('cpu'))}, {os.cpu_count()} cores, {platform.system()}, "
        f"Python {platform.python_version()}.",
        "Command: `python benchmarks/latent_layer_parts.py`", "",
        "| batch | p | " + " | ".join(PARTS) + " |", "|---|---|" + "---|" * len(PARTS),
        *rows, ""])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
