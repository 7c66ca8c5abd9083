"""Latent-layer speed: rsample + KL to the prior, forward + backward, side by side in one run.

Each layer starts from encoder outputs that require grad, builds its posterior as a VAE would
(validate_args=False, the usual training setting), draws one reparameterized sample, computes the
KL to its prior and backpropagates `z.sum() + kl.sum()`. Gaussian: torch Normal rsample and the
analytic KL. spCauchy: the fused layer `spcauchy_latent` (normalize + Möbius sample + KL in one
autograd node, what the VAEs use), and the same computation through the Distribution API
(`F.normalize`, `SphericalCauchy(...).rsample()`, `spcauchy_kl_uniform`) for comparison. vMF and
Power Spherical: `F.normalize`, softplus concentration, `rsample()` and `kl_divergence` to
`HypersphericalUniform`; with the `power-spherical` package installed, its PowerSpherical too.
The compiled columns run the same steps under torch.compile. Times are medians of
torch.utils.benchmark (one thread, float32; CPU unless --device says otherwise); ratios are
family / eager Gaussian, so the table is comparable across machines.

    python benchmarks/latent_layer.py [--out results/benchmarks/latent_layer.md] [--no-compile]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence
from torch.utils import benchmark

from spcauchy import (
    HypersphericalUniform,
    PowerSpherical,
    SphericalCauchy,
    VonMisesFisher,
    spcauchy_kl_uniform,
    spcauchy_latent,
)
from spcauchy.experiments.machine import describe

BATCHES = (128, 1024)
DIMS = (3, 9, 65, 513, 2049)


def gaussian(batch: int, p: int) -> tuple[Callable[[], torch.Tensor], list[torch.Tensor]]:
    mu = torch.randn(batch, p, requires_grad=True)
    log_sigma = (0.1 * torch.randn(batch, p)).requires_grad_()

    def step() -> torch.Tensor:
        q = Normal(mu, log_sigma.exp(), validate_args=False)
        z = q.rsample()
        # analytic KL(N(μ, σ²) ‖ N(0, 1)) summed over coordinates
        kl = (0.5 * (mu.square() + (2 * log_sigma).exp() - 1) - log_sigma).sum(-1)
        return z.sum() + kl.sum()

    return step, [mu, log_sigma]


def spcauchy(batch: int, p: int) -> tuple[Callable[[], torch.Tensor], list[torch.Tensor]]:
    direction = torch.randn(batch, p, requires_grad=True)
    rho_logit = torch.randn(batch, requires_grad=True)

    def step() -> torch.Tensor:
        q = SphericalCauchy(F.normalize(direction, dim=-1), rho_logit=rho_logit,
                            validate_args=False)
        z = q.rsample()
        return z.sum() + spcauchy_kl_uniform(p, rho_logit=rho_logit).sum()

    return step, [direction, rho_logit]


def spcauchy_fused(batch: int, p: int) -> tuple[Callable[[], torch.Tensor], list[torch.Tensor]]:
    direction = torch.randn(batch, p, requires_grad=True)
    rho_logit = torch.randn(batch, requires_grad=True)

    def step() -> torch.Tensor:
        z, kl = spcauchy_latent(direction, rho_logit)
        return z.sum() + kl.sum()

    return step, [direction, rho_logit]


def axial(cls: type) -> Callable:
    """vMF / Power Spherical layer: direction and a softplus concentration (κ ≈ 0.2..30)."""

    def make(batch: int, p: int) -> tuple[Callable[[], torch.Tensor], list[torch.Tensor]]:
        direction = torch.randn(batch, p, requires_grad=True)
        raw = (2 * torch.randn(batch) + 2).requires_grad_()
        prior = HypersphericalUniform(p, validate_args=False)

        def step() -> torch.Tensor:
            q = cls(F.normalize(direction, dim=-1), F.softplus(raw), validate_args=False)
            return q.rsample().sum() + kl_divergence(q, prior).sum()

        return step, [direction, raw]

    return make


def compiled(make: Callable) -> Callable:
    """The same layer under torch.compile (inductor, static shapes, one graph per cell)."""

    def make_compiled(batch: int, p: int) -> tuple[Callable[[], torch.Tensor], list[torch.Tensor]]:
        step, params = make(batch, p)
        return torch.compile(step, fullgraph=True, dynamic=False), params

    return make_compiled


FAMILIES: dict[str, Callable] = {
    "gaussian": gaussian,
    "spcauchy": spcauchy_fused,
    "spcauchy (Distribution API)": spcauchy,
    "vmf": axial(VonMisesFisher),
    "power": axial(PowerSpherical),
}
COMPILED = {"gaussian (compiled)": compiled(gaussian),
            "spcauchy (compiled)": compiled(spcauchy_fused),
            "spcauchy (Distribution API, compiled)": compiled(spcauchy)}
try:  # the reference Power Spherical implementation (De Cao & Aziz), where installed
    import power_spherical

    def _package_power(batch: int, p: int):
        direction = torch.randn(batch, p, requires_grad=True)
        raw = (2 * torch.randn(batch) + 2).requires_grad_()
        prior = power_spherical.HypersphericalUniform(p, validate_args=False)

        def step() -> torch.Tensor:
            q = power_spherical.PowerSpherical(F.normalize(direction, dim=-1), F.softplus(raw),
                                               validate_args=False)
            return q.rsample().sum() + kl_divergence(q, prior).sum()

        return step, [direction, raw]

    FAMILIES["power_spherical package"] = _package_power
except ImportError:
    pass
ANCHORS = ("power_spherical package",)


def time_cell(batch: int, p: int, rounds: int, min_run_time: float, checks: int,
              device: str = "cpu") -> dict[str, tuple[float, int]]:
    """Per family: (seconds per forward+backward, non-finite steps out of ``checks``) for one
    grid cell.

    Families are timed in interleaved rounds and each keeps its fastest round's median, so load
    from other processes hits all families alike and is filtered out. The timed step is only the
    layer's forward and backward; finiteness is checked on separate, untimed steps.
    """
    runs, bad = {}, {}
    torch._dynamo.reset()  # each cell compiles its own graphs (dynamo limits recompiles per code)
    for name, make in FAMILIES.items():
        torch.manual_seed(0)
        step, params = make(batch, p)

        def run(step=step, params=params) -> torch.Tensor:
            for t in params:
                t.grad = None
            loss = step()
            loss.backward()
            return loss

        def finite(step=step, params=params) -> bool:
            loss = run(step, params)
            return bool(torch.isfinite(loss)) and all(t.grad.isfinite().all() for t in params)

        bad[name] = sum(not finite() for _ in range(checks))  # also the warm-up (tables)
        # CPU: time of this thread; with one intra-op thread all work runs here, and other
        # processes on the machine do not inflate it the way they inflate wall-clock time.
        # GPU: wall clock, which benchmark.Timer synchronizes with the device.
        timer = {"timer": time.thread_time} if device == "cpu" else {}
        runs[name] = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=1, **timer)
    best = dict.fromkeys(FAMILIES, math.inf)
    for _ in range(rounds):
        for name, timer in runs.items():
            median = timer.blocked_autorange(min_run_time=min_run_time).median
            best[name] = min(best[name], median)
    return {name: (best[name], bad[name]) for name in FAMILIES}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/latent_layer.md"))
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds per cell")
    ap.add_argument("--min-run-time", type=float, default=0.2, help="seconds per round")
    ap.add_argument("--checks", type=int, default=100, help="untimed steps checked for NaN/Inf")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile columns")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_default_device(args.device)
    if not args.no_compile:
        FAMILIES.update(COMPILED)
    for name in [n for n in FAMILIES if n in ANCHORS]:  # an anchor package may not run here
        try:
            step, _ = FAMILIES[name](2, 3)
            step().backward()
        except Exception as err:  # any failure: leave the column out, and say why
            print(f"leaving out {name}: {type(err).__name__}: {err}", file=sys.stderr)
            del FAMILIES[name]
    names = list(FAMILIES)
    rows, ratios = [], {n: [] for n in names[1:]}
    bad_steps = dict.fromkeys(names, 0)
    for batch in args.batches:
        for p in DIMS:
            res = time_cell(batch, p, args.rounds, args.min_run_time, args.checks, args.device)
            base = res["gaussian"][0]
            cells = []
            for n in names:
                t, bad = res[n]
                bad_steps[n] += bad
                if n != "gaussian":
                    ratios[n].append(t / base)
                cells.append(f"{t * 1e6:.0f} µs ({t / base:.2f}×)")
            rows.append(f"| {batch} | {p} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    geo = {n: math.exp(sum(map(math.log, r)) / len(r)) for n, r in ratios.items()}
    worst = {n: max(r) for n, r in ratios.items()}

    def geo_ratio(a: list[float], b: list[float]) -> float:
        return math.exp(sum(math.log(x / y) for x, y in zip(a, b, strict=True)) / len(a))

    anchors = [n for n in ("vmf", "power", "power_spherical package") if n in ratios]
    speedup = {(n, ref): geo_ratio(ratios[n], ratios[ref])
               for ref in ("spcauchy", "spcauchy (Distribution API)") for n in anchors}
    # compiled / eager of the same layer, per cell (the Gaussian's eager time is the base)
    eager_of = {"spcauchy (compiled)": "spcauchy",
                "spcauchy (Distribution API, compiled)": "spcauchy (Distribution API)"}
    gains = {n: [c / e for c, e in zip(ratios[n], ratios[ref], strict=True)]
             for n, ref in eager_of.items() if n in ratios}
    if "gaussian (compiled)" in ratios:
        gains["gaussian (compiled)"] = ratios["gaussian (compiled)"]
    command_args = ((f" --device {args.device}" if args.device != "cpu" else "")
                    + (f" --batches {' '.join(map(str, args.batches))}"
                       if tuple(args.batches) != BATCHES else ""))
    lines = [
        "# Latent-layer benchmark",
        "",
        "rsample + KL to the prior, forward + backward, float32, "
        + ("CPU, 1 thread; thread CPU time" if args.device == "cpu" else
           f"{torch.cuda.get_device_name() if args.device == 'cuda' else args.device}; time")
        + f" per step (best of {args.rounds} interleaved rounds of medians) and ratio to the",
        "Gaussian layer (torch Normal rsample + analytic KL). Compiled columns: torch.compile",
        "(inductor, fullgraph, static shapes) of the same step, compile time excluded.",
        f"Non-finite: steps with a non-finite loss or gradient, of {args.checks} untimed ones",
        "per layer and cell.",
        f"Machine: {describe(torch.device(args.device))}, {os.cpu_count()} cores, "
        f"{platform.system()}, Python {platform.python_version()}.",
        f"Command: `python benchmarks/latent_layer.py{command_args}`",
        "(`pip install power-spherical` adds the reference Power Spherical package as a column).",
        "",
        "| batch | p | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
        *rows,
        "",
        *(f"- {n}/gaussian: geometric mean {geo[n]:.2f}×, worst cell {worst[n]:.2f}×"
          for n in ratios),
        *(f"- {ref} is {v:.2f}× faster than {n} (geometric mean over the grid)"
          for (n, ref), v in speedup.items()),
        *(f"- {n} / eager: geometric mean {math.exp(sum(map(math.log, g)) / len(g)):.2f}×, "
          f"cells {min(g):.2f}–{max(g):.2f}×" for n, g in gains.items()),
        "- non-finite steps (of " + f"{args.checks * len(args.batches) * len(DIMS)}): "
        + ", ".join(f"{n} {k}" for n, k in bad_steps.items()),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines[-len(ratios) - len(speedup) - len(gains) - 2:]))


if __name__ == "__main__":
    main()
