"""Write tests/data/spcauchy_reference.csv: High-precision mpmath values for the spCauchy numerics.

Independent of the code under test: the KL uses the hypergeometric closed form
g_p(ρ) = -c₁ρ² ₃F₂(1, 1, 2-p/2; 2, p/2+1; ρ²) (or, for small odd p near ρ = 1 where that series
is slow, direct quadrature of E log(1+ρ²+2ρt)), g_p' = -2ρ c₁ ₂F₁(1, 2-p/2; p/2+1; ρ²) and
E_{p+2} D⁻² = ₂F₁(2, 2-p/2; p/2+1; ρ²). Values are taken at ρ = sigmoid(x) for the float64 logit x.

    python scripts/make_spcauchy_reference.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import mpmath as mp

# 100 digits: 1-ρ² at ρ = sigmoid(80) already consumes 35 of them.
mp.mp.dps = 100
DIMS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 16, 17, 19, 21, 33, 64, 65, 129, 256, 513,
        1000, 1024, 2049, 4097, 9999, 10000]
LOGITS = [-40.0, -20.0, -10.0, -5.0, -2.0, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0,
          16.0, 20.0, 25.0, 27.6, 35.0, 50.0, 80.0]
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "spcauchy_reference.csv"


def g_ref(p: mp.mpf, rho: mp.mpf) -> mp.mpf:
    """E log(1+ρ²+2ρt), t = μᵀu."""
    if p % 2 == 1 and p <= 21 and rho > 0.5:
        a = (p - 1) / 2
        eta = (1 - rho) ** 2 / (4 * rho)  # 1+ρ²+2ρt = 4ρ(v+η), v = (1+t)/2 ~ Beta(a, a)
        f = lambda v: v ** (a - 1) * (1 - v) ** (a - 1) * mp.log(v + eta)  # noqa: E731
        return mp.log(4 * rho) + mp.quad(f, [0, eta, 0.5, 1]) / mp.beta(a, a)
    c1 = (1 - p / 2) / (p / 2)
    return -c1 * rho**2 * mp.hyp3f2(1, 1, 2 - p / 2, 2, p / 2 + 1, rho**2)


def row(p_int: int, x: float) -> list[str]:
    p, xm = mp.mpf(p_int), mp.mpf(x)
    rho, rho_bar = 1 / (1 + mp.exp(-xm)), 1 / (1 + mp.exp(xm))
    log1m_rho2 = mp.log1p(-(rho**2)) if rho < 0.5 else mp.log(rho_bar) + mp.log1p(rho)
    g = g_ref(p, rho)
    # ₂F₁(1, b; c; z) - 1 = (b/c) z ₂F₁(1, b+1; c+1; z): no cancellation at small ρ.
    dg = -2 * rho * ((1 - p / 2) / (p / 2)) * mp.hyp2f1(1, 2 - p / 2, p / 2 + 1, rho**2)
    kl = (p - 1) * (g - log1m_rho2)
    dkl_drho = (p - 1) * (dg + 2 * rho / (rho_bar * (1 + rho)))
    dkl_dlogit = dkl_drho * rho * rho_bar
    mean = rho + rho_bar * (1 + rho) * dg / 2
    inv2 = mp.hyp2f1(2, 2 - p / 2, p / 2 + 1, rho**2)
    transverse_var = (rho_bar * (1 + rho)) ** 2 * inv2 / p
    return [str(p_int), repr(x)] + [mp.nstr(v, 25) for v in (kl, dkl_dlogit, mean, transverse_var)]


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["p", "rho_logit", "kl", "dkl_dlogit", "mean_length", "transverse_var"])
        for p in DIMS:
            for x in LOGITS:
                w.writerow(row(p, x))
            print("p =", p, flush=True)


if __name__ == "__main__":
    main()
