"""Print the worst relative errors of the spCauchy numerics (the tests assert the tolerances).

Against tests/data/spcauchy_reference.csv (mpmath, 100 digits): KL to the uniform and its
logit-derivative, mean resultant length and transverse variance, in float64 and float32; and the
tabulated KL against the exact series on random logits.

    PYTHONPATH=src python scripts/spcauchy_accuracy.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from spcauchy import SphericalCauchy, spcauchy_kl_uniform
from spcauchy.special.spcauchy_kl import kl_and_derivative, kl_exact, rho_parts

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "spcauchy_reference.csv"
DENSE_DIMS = (2, 3, 4, 5, 7, 9, 15, 16, 17, 65, 513, 2049, 10000)


def rel(got: float, ref: float) -> float:
    return abs(got - ref) / abs(ref) if ref != 0 else abs(got)


def reference_errors() -> None:
    rows = list(csv.DictReader(REFERENCE.open()))
    for dtype in (torch.float64, torch.float32):
        worst: dict[str, tuple[float, int, float]] = {}
        tiny = torch.finfo(dtype).tiny
        for r in rows:
            p, x = int(r["p"]), float(r["rho_logit"])
            if dtype == torch.float32 and abs(x) > 80:
                continue
            xt = torch.tensor([x], dtype=dtype, requires_grad=True)
            kl = spcauchy_kl_uniform(p, rho_logit=xt)
            kl.backward()
            loc = torch.zeros(p, dtype=dtype)
            loc[0] = 1
            d = SphericalCauchy(loc, rho_logit=xt.detach())
            got = {"kl": kl.item(), "dkl_dlogit": xt.grad.item(),
                   "mean_length": d.mean_resultant_length.item(),
                   "transverse_var": d.variance[0, 1].item()}
            for key, value in got.items():
                ref = float(r[key])
                if abs(ref) < tiny:  # below the dtype's range: must underflow to (near) zero
                    continue
                err = rel(value, ref)
                if err > worst.get(key, (0.0,))[0]:
                    worst[key] = (err, p, x)
        for key, (err, p, x) in worst.items():
            print(f"{dtype!s:14s} {key:15s} worst relative error {err:.2e} at p={p}, logit={x}")


def dense_errors() -> None:
    torch.manual_seed(0)
    worst = [0.0, 0.0]
    for p in DENSE_DIMS:
        x = torch.empty(20000, dtype=torch.float64).uniform_(-25, 45)
        kl, dkl = kl_and_derivative(p, x, True)
        rho, rho_bar, log_rho_bar = rho_parts(None, x)
        k, dk = kl_exact(p, rho, rho_bar, log_rho_bar)
        ref_kl, ref_dkl = (p - 1) * k, (p - 1) * dk * rho * rho_bar
        worst[0] = max(worst[0], ((kl - ref_kl).abs() / ref_kl).max().item())
        worst[1] = max(worst[1], ((dkl - ref_dkl).abs() / ref_dkl).max().item())
    print(f"table vs exact series (float64, 20000 logits in [-25, 45] per p): "
          f"KL {worst[0]:.2e}, dKL/dlogit {worst[1]:.2e}")


if __name__ == "__main__":
    reference_errors()
    dense_errors()
