"""Worst relative errors of the vMF and Power Spherical numerics against the mpmath references.

    PYTHONPATH=src python scripts/baseline_accuracy.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from spcauchy import VonMisesFisher
from spcauchy.special.bessel import bessel_terms
from spcauchy.special.power_spherical_terms import ps_kl_uniform, ps_log_normalizer

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "baseline_reference.csv"


def main() -> None:
    rows = list(csv.DictReader(REF.open()))
    for dtype in (torch.float64, torch.float32):
        worst: dict[str, tuple[float, int, float]] = {}
        for r in rows:
            p, k = int(r["p"]), torch.tensor([float(r["kappa"])], dtype=dtype)
            terms = bessel_terms(p / 2 - 1, k)
            got = {**{f: getattr(terms, f) for f in terms._fields},
                   "kl_vmf": VonMisesFisher(torch.eye(p, dtype=dtype)[:1], k).kl_to_uniform(),
                   "log_norm_ps": ps_log_normalizer(p, k),
                   "log_mode_ps": ps_log_normalizer(p, k, at_mode=True),
                   "kl_ps": ps_kl_uniform(p, k)}
            for name, value in got.items():
                v, ref = value.item(), float(r[name])
                if v == ref:
                    continue
                err = abs(v - ref) / abs(ref) if ref != 0 else abs(v)
                if err > worst.get(name, (-1.0, 0, 0.0))[0]:
                    worst[name] = (err, p, float(r["kappa"]))
        print(f"{dtype}:")
        for name, (err, p, k) in worst.items():
            print(f"  {name:14s} worst relative error {err:.2e} at p={p}, kappa={k:g}")


if __name__ == "__main__":
    main()
