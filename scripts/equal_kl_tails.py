"""How far samples fall from the mean direction when spCauchy, vMF and Power Spherical carry the
same KL to the uniform prior (the same cost in a VAE's ELBO): quantiles of the angle between x and
μ, per sphere dimension. On low-dimensional spheres spCauchy's tails are heavy (locally a
Student-t with p-1 degrees of freedom), which is what a product of small spheres multiplies.

    python scripts/equal_kl_tails.py [--out results/mnist/product/equal_kl_tails.md]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch.distributions import Distribution, kl_divergence

from spcauchy import HypersphericalUniform, PowerSpherical, SphericalCauchy, VonMisesFisher

DIMS = (5, 6, 11, 21)  # ambient p: S^4, S^5 (product factors), S^10, S^20 (single spheres)
KLS = (2.0, 4.0, 8.0)
QUANTILES = (0.5, 0.9, 0.99)
SAMPLES = 400_000

# family → distribution with mean μ from a positive concentration c (ρ/(1-ρ) for spCauchy, κ)
FAMILIES: dict[str, Callable[[torch.Tensor, float], Distribution]] = {
    "spCauchy": lambda mu, c: SphericalCauchy(mu, rho_logit=torch.tensor(math.log(c)).to(mu)),
    "vMF": lambda mu, c: VonMisesFisher(mu, torch.tensor(c).to(mu)),
    "Power Spherical": lambda mu, c: PowerSpherical(mu, torch.tensor(c).to(mu)),
}


def at_kl(make: Callable[[float], Distribution], p: int, target: float) -> Distribution:
    """The member with KL to the uniform on S^{p-1} equal to ``target`` (bisection in log c;
    KL increases with the concentration)."""
    prior = HypersphericalUniform(p, dtype=torch.float64)
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if kl_divergence(make(math.exp(mid)), prior).item() < target:
            lo = mid
        else:
            hi = mid
    return make(math.exp((lo + hi) / 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/mnist/product/equal_kl_tails.md"))
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    for p in DIMS:
        mu = torch.zeros(p, dtype=torch.float64)
        mu[0] = 1.0
        for kl in KLS:
            cells = []
            for make in FAMILIES.values():
                x = at_kl(lambda c, make=make, mu=mu: make(mu, c), p, kl).sample((SAMPLES,))
                angle = torch.rad2deg(torch.arccos((x @ mu).clamp(-1.0, 1.0)))
                q = torch.quantile(angle, torch.tensor(QUANTILES, dtype=torch.float64))
                cells.append(" / ".join(f"{v:.0f}°" for v in q.tolist()))
            rows.append(f"| S^{p - 1} | {kl:g} | " + " | ".join(cells) + " |")
    quantiles = " / ".join(f"{100 * q:g}%" for q in QUANTILES)
    text = "\n".join([
        "# Angle to the mean direction at equal KL to the uniform prior", "",
        f"Command: `python scripts/equal_kl_tails.py`; {SAMPLES:,} samples per cell, seed 0, "
        f"float64. Cells: the {quantiles} quantiles of the angle between x and μ, for the member "
        "of each family whose KL to the uniform prior is the given number of nats.", "",
        "| sphere | KL (nats) | " + " | ".join(FAMILIES) + " |",
        "|---|---|" + "---|" * len(FAMILIES),
        *rows, ""])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
