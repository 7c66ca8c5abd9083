"""Fitting speed and range: our maximum-likelihood fits against scipy.stats.vonmises_fisher.fit,
EM for mixtures, and where scipy's vMF fit fails.

    OMP_NUM_THREADS=1 python benchmarks/fitting.py [--out results/benchmarks/fitting.md]

1. Fit time vs n and p: vMF samples (κ from Banerjee's formula for a mean resultant length of
   0.9, float64); one timed run each of VonMisesFisher.fit and scipy's fit on the same points
   (after one untimed warm-up of both on small data), plus SphericalCauchy.fit and
   PowerSpherical.fit on them. n·p ≤ 10⁷.
2. EM: n = 10⁵ points from a k-component vMF mixture on S² (κ = 50, random directions),
   SphericalMixture(family, k).fit with one restart and at most 20 EM iterations.
3. Range: two points (R, ±√(1-R²), 0, ...) have mean resultant length exactly R = A_p(κ); both
   fits are asked for κ over a grid of p and κ.

Times are thread CPU time (time.thread_time) on one thread (torch.set_num_threads(1); the
command pins OpenMP to 1 too), so the background load of a shared machine inflates them less than
wall time would.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import scipy
import torch
import torch.nn.functional as F
from scipy import stats

from spcauchy import PowerSpherical, SphericalCauchy, SphericalMixture, VonMisesFisher
from spcauchy.experiments.machine import describe
from spcauchy.special.bessel import bessel_terms

F64 = torch.float64
SIZES = (1_000, 10_000, 100_000)
DIMS = (3, 10, 50, 100, 1000)
EM_N, EM_KS, EM_ITERS = 100_000, (5, 20), 20
RANGE_P = (2, 3, 10, 50, 66, 67, 100, 1000, 10_000)
RANGE_KAPPA = (1e-9, 1e-3, 1.0, 1e3, 1e6, 1e8, 1e10)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.thread_time()
    out = fn()
    return time.thread_time() - start, out


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fit_grid() -> list[str]:
    rows = ["| n | p | κ | ours (vMF) | scipy | scipy/ours | κ̂ ours | κ̂ scipy | spCauchy fit | "
            "Power Spherical fit |", "|---|---|---|---|---|---|---|---|---|---|"]
    warm = F.normalize(torch.randn(100, 3, dtype=F64), dim=-1)
    VonMisesFisher.fit(warm)
    stats.vonmises_fisher.fit(warm.numpy())
    for n in SIZES:
        for p in DIMS:
            if n * p > 10_000_000:
                continue
            torch.manual_seed(n + p)
            kappa = 0.9 * (p - 0.81) / (1 - 0.81)
            loc = F.normalize(torch.randn(p, dtype=F64), dim=-1)
            x = VonMisesFisher(loc, torch.tensor(kappa, dtype=F64)).sample((n,))
            xn = x.numpy()
            t_ours, fit = timed(lambda x=x: VonMisesFisher.fit(x))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_scipy, (_, k_scipy) = timed(lambda xn=xn: stats.vonmises_fisher.fit(xn))
            t_spc, _ = timed(lambda x=x: SphericalCauchy.fit(x))
            t_ps, _ = timed(lambda x=x: PowerSpherical.fit(x))
            rows.append(f"| {n} | {p} | {kappa:.4g} | {fmt_time(t_ours)} | {fmt_time(t_scipy)} | "
                        f"{t_scipy / t_ours:.2f}× | {fit.concentration.item():.6g} | "
                        f"{k_scipy:.6g} | {fmt_time(t_spc)} | {fmt_time(t_ps)} |")
            print(rows[-1], flush=True)
    return rows


def em_grid() -> list[str]:
    rows = ["| family | k | EM iterations | converged | total | per iteration | "
            "mean log-lik |", "|---|---|---|---|---|---|---|"]
    for k in EM_KS:
        gen = torch.Generator().manual_seed(k)
        locs = F.normalize(torch.randn(k, 3, generator=gen, dtype=F64), dim=-1)
        labels = torch.randint(k, (EM_N,), generator=gen)
        torch.manual_seed(k)
        x = VonMisesFisher(locs[labels], torch.tensor(50.0, dtype=F64)).sample()
        for family in ("vmf", "spcauchy", "power"):
            mix = SphericalMixture(family, k)
            seconds, _ = timed(lambda mix=mix, x=x: mix.fit(
                x, restarts=1, max_iter=EM_ITERS, generator=torch.Generator().manual_seed(0)))
            iters = len(mix.history) - 1
            rows.append(f"| {family} | {k} | {iters} | {mix.converged} | {fmt_time(seconds)} | "
                        f"{fmt_time(seconds / max(iters, 1))} | {mix.history[-1]:.4f} |")
            print(rows[-1], flush=True)
    return rows


def range_grid() -> list[str]:
    rows = ["| p \\ κ | " + " | ".join(f"{k:g}" for k in RANGE_KAPPA) + " |",
            "|---|" + "---|" * len(RANGE_KAPPA)]
    for p in RANGE_P:
        cells = []
        for kappa in RANGE_KAPPA:
            t = bessel_terms(p / 2 - 1, torch.tensor(kappa, dtype=F64))
            x = torch.zeros(2, p, dtype=F64)
            x[:, 0] = t.ratio
            half = torch.sqrt(t.ratio_comp * (2 - t.ratio_comp))
            x[0, 1], x[1, 1] = half, -half
            ours = abs(VonMisesFisher.fit(x).concentration.item() / kappa - 1)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    k_scipy = stats.vonmises_fisher.fit(x.numpy())[1]
                err = abs(k_scipy / kappa - 1)
                theirs = f"{err:.0e}" if err < 1e-3 else f"**{k_scipy:.3g}**"
            except ValueError:
                theirs = "**ValueError**"
            cells.append(f"{ours:.0e} / {theirs}")
        rows.append(f"| {p} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/fitting.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    fits, ems, ranges = fit_grid(), em_grid(), range_grid()
    wall = time.perf_counter() - start
    machine = (f"{describe(torch.device('cpu'))}, {os.cpu_count()} cores, {platform.system()}, "
               f"scipy {scipy.__version__}, Python {platform.python_version()}")
    text = "\n".join([
        "# Fitting benchmark", "",
        "Thread CPU time of one run per cell, one thread, float64, CPU.",
        f"Machine: {machine}; a 2-core CPU shared with a background job (times are noisy).",
        "Command: `OMP_NUM_THREADS=1 nice -n 5 python benchmarks/fitting.py`",
        f"Total wall time: {wall:.0f} s.", "",
        "## Fit time vs n and p (vMF samples, mean resultant length 0.9)", "",
        *fits, "",
        "scipy's κ̂ is 1e-08 (its lower bracket end) for every p ≥ 67, see below.", "",
        f"## EM, n = {EM_N} points on S² (vMF mixture, κ = 50), one restart, at most "
        f"{EM_ITERS} iterations", "", *ems, "",
        "## Range: relative error of κ̂, ours / scipy (two points with R̄ = A_p(κ))", "",
        "Bold: scipy's wrong value or exception.", "", *ranges, "",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out} ({wall:.0f} s)")


if __name__ == "__main__":
    main()
