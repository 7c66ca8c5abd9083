"""Write tests/data/baseline_reference.csv: mpmath references for the vMF and Power Spherical.

vMF on S^{p-1}, ν = p/2 - 1, f = ₀F₁(; ν+1; κ²/4) = Γ(ν+1)(2/κ)^ν I_ν(κ):
  log_f, log_f - κ, A = I_{ν+1}/I_ν, 1 - A, κA'(κ), log I_ν(κ), KL(vMF ‖ uniform) = κA - log f.
For κ ≤ 40 from the hypergeometric series (A = κ/(2ν+2) ₀F₁(ν+2)/₀F₁(ν+1)); above, independently
of any series, from quadrature of the marginal of s = 1 - μᵀx, whose density is
∝ e^{-κs}(s(2-s))^{ν-1/2} on [0, 2]: log f - κ = log ∫ - log B(1/2, ν+1/2), 1 - A = E s,
κA' = κ Var s. Power Spherical, α = (p-1)/2 + κ, β = (p-1)/2:
log C = -(α+β)log 2 - β log π - lgamma α + lgamma(α+β),
log density at the mode log C + κ log 2,
KL(PS ‖ uniform) = log C + κ(log 2 + ψ(α) - ψ(α+β)) + log|S^{p-1}|.

    python scripts/make_baseline_reference.py     (about two minutes)
"""

from __future__ import annotations

import csv
from pathlib import Path

import mpmath as mp

mp.mp.dps = 50
DIMS = [2, 3, 4, 5, 6, 7, 10, 11, 16, 17, 31, 32, 33, 50, 65, 100, 129, 513, 1000, 2049, 4097,
        10000]
KAPPAS = [0.0, 1e-6, 1e-3, 0.1, 0.5, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 1e4, 1e5, 1e6, 1e7,
          1e8]
SERIES_MAX = 40
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "baseline_reference.csv"
COLUMNS = ["p", "kappa", "log_f", "log_f_scaled", "ratio", "ratio_comp", "kappa_dratio", "log_iv",
           "kl_vmf", "log_norm_ps", "log_mode_ps", "kl_ps"]


def bessel_series(nu: mp.mpf, k: mp.mpf) -> tuple[mp.mpf, mp.mpf, mp.mpf]:
    """(log f, A, κA') from the ₀F₁ series."""
    if k == 0:
        return mp.mpf(0), mp.mpf(0), mp.mpf(0)
    f0, f1 = mp.hyp0f1(nu + 1, k**2 / 4), mp.hyp0f1(nu + 2, k**2 / 4)
    a = k / (2 * nu + 2) * f1 / f0
    return mp.log(f0), a, k - k * a**2 - (2 * nu + 1) * a


def bessel_quad(nu: mp.mpf, k: mp.mpf) -> tuple[mp.mpf, mp.mpf, mp.mpf]:
    """(log f - κ, 1 - A, κA') from quadrature of the marginal of s = 1 - μᵀx."""
    m = nu - mp.mpf(1) / 2
    if m > 0:  # unimodal in s: break the range around the mode, in units of its width
        mode = 2 * m / ((k + m) + mp.sqrt((k + m) ** 2 - 2 * k * m))
        width = 1 / mp.sqrt(m * (1 / mode**2 + 1 / (2 - mode) ** 2))
        cand = [mode + j * width for j in (-30, -10, -3, 0, 3, 10, 30, 100)]
    else:
        mode, cand = mp.mpf(0), [j / k for j in (1, 10, 100)]
    pts = sorted({mp.mpf(0), mp.mpf(2), *(c for c in cand if 0 < c < 2)})

    def log_h(s: mp.mpf) -> mp.mpf:
        return m * mp.log(s * (2 - s)) - k * s

    shift = log_h(mode) if m > 0 else mp.mpf(0)
    moments = [mp.quad(lambda s, j=j: s**j * mp.exp(log_h(s) - shift), pts) for j in range(3)]
    mean = moments[1] / moments[0]
    var = moments[2] / moments[0] - mean**2
    log_scaled = mp.log(moments[0]) + shift - mp.log(mp.beta(mp.mpf(1) / 2, nu + mp.mpf(1) / 2))
    return log_scaled, mean, k * var


def power_spherical(p: int, k: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    beta = mp.mpf(p - 1) / 2
    alpha = beta + k
    log_c = (-(alpha + beta) * mp.log(2) - beta * mp.log(mp.pi) - mp.loggamma(alpha)
             + mp.loggamma(alpha + beta))
    log_area = mp.log(2) + mp.mpf(p) / 2 * mp.log(mp.pi) - mp.loggamma(mp.mpf(p) / 2)
    kl = log_c + k * (mp.log(2) + mp.digamma(alpha) - mp.digamma(alpha + beta)) + log_area
    # At κ = 0 the terms cancel exactly (duplication formula); keep the exact 0, not 1e-50 noise.
    return log_c, kl if k > 0 else mp.mpf(0)


def row(p: int, kappa: float) -> list[str]:
    nu, k = mp.mpf(p) / 2 - 1, mp.mpf(kappa)
    if kappa <= SERIES_MAX:
        log_f, a, pk = bessel_series(nu, k)
        log_scaled, b = log_f - k, 1 - a
    else:
        log_scaled, b, pk = bessel_quad(nu, k)
        log_f, a = log_scaled + k, 1 - b
    if k == 0:
        log_iv = mp.mpf(0) if nu == 0 else -mp.inf
    else:
        log_iv = log_f + nu * mp.log(k / 2) - mp.loggamma(nu + 1)
    kl_vmf = k * a - log_f
    log_c, kl_ps = power_spherical(p, k)
    vals = (log_f, log_scaled, a, b, pk, log_iv, kl_vmf, log_c, log_c + k * mp.log(2), kl_ps)
    return [str(p), repr(kappa)] + [mp.nstr(v, 25) for v in vals]


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for p in DIMS:
            for kappa in sorted({*KAPPAS, p / 4, float(p), 4.0 * p}):
                w.writerow(row(p, kappa))
            print("p =", p, flush=True)


if __name__ == "__main__":
    main()
