"""Product-of-spheres latents against one sphere of the same total dimension, side by side.

For each family and total manifold dimension d, one training-step latent layer (draw z, KL to
the prior, backward of `z.sum() + kl.sum()`) through the latent family a VAE uses: one sphere
S^d (``latent_family(name)``) and m factors S^k with m·k = d (``latent_family(name, factors=m)``).
The ratio product / one sphere is what a product costs; for spCauchy the product goes through
the fused layer once for all factors. Medians of torch.utils.benchmark, interleaved rounds, one
thread, float32, CPU.

    python benchmarks/product_latent.py [--out results/benchmarks/product_latent.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from torch.utils import benchmark

from spcauchy.experiments.machine import describe
from spcauchy.latents import latent_family

BATCH = 100
CELLS = [(12, 4), (24, 6), (48, 12), (48, 16), (120, 30)]  # (total d, factors m): S^{d/m} factors
FAMILIES = ("spcauchy", "vmf", "power")


def layer(name: str, d: int, m: int):
    fam = latent_family(name, factors=m)
    h = torch.randn(BATCH, fam.n_params(d), requires_grad=True)
    prior = fam.prior(d, h)

    def step() -> None:
        z, kl = fam.sample_and_kl(h, d, prior)
        (z.sum() + kl.sum()).backward()
        h.grad = None

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/product_latent.md"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-run-time", type=float, default=0.2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    for name in FAMILIES:
        for d, m in CELLS:
            steps = {"one": layer(name, d, 1), "product": layer(name, d, m)}
            times: dict[str, list[float]] = {k: [] for k in steps}
            for _ in range(args.rounds):  # interleaved: load changes hit both alike
                for key, step in steps.items():
                    t = benchmark.Timer("step()", globals={"step": step})
                    times[key].append(t.blocked_autorange(min_run_time=args.min_run_time).median)
            one, prod = (statistics.median(times[k]) * 1e6 for k in ("one", "product"))
            rows.append(f"| {name} | {d} | {m} × S^{d // m} | {one:.0f} | {prod:.0f} | "
                        f"{prod / one:.2f} |")
    lines = [
        "# Product latents: m spheres against one sphere of the same total dimension",
        "",
        f"`python benchmarks/product_latent.py`, {time.strftime('%Y-%m-%d')}, "
        f"{describe(torch.device('cpu'))}, {os.cpu_count()} CPUs, float32, batch {BATCH}; "
        "µs per training step of the "
        "latent layer (draw, KL, backward), medians of interleaved rounds.",
        "",
        "| family | total d | product | one sphere S^d (µs) | product (µs) | product / one |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
