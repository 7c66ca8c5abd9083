"""Pure tensor numerics for the spherical Cauchy distribution on S^{p-1}.

Everything reduces to moments of t = μᵀu for u uniform on the sphere, whose density on [-1, 1] is
∝ (1 - t²)^{(p-3)/2}. With D(t) = 1 + ρ² + 2ρt:

    g_p(ρ)  = E log D                     (KL to uniform = (p-1)[g_p(ρ) - log(1-ρ²)])
    g_p'(ρ) = E 2(ρ + t)/D                (mean resultant length m = ρ + (1-ρ²) g_p'/2)
    F_p(ρ)  = E_{p+2} D⁻²                 (transverse variance B = (1-ρ²)² F_p / p)

Two exact representations are used (derivations in docs/math.md):

* the ρ²-series  E_q D^{-λ} = Σ_n (λ)_n (λ+1-q/2)_n / ((q/2)_n n!) ρ^{2n}, whose λ-derivative at
  λ = 0 gives g_p = -Σ_k c_k ρ^{2k}/k with c_k = (1-p/2)_k/(p/2)_k. It terminates for even p and
  its terms decay like exp(-2k²/p) for large p, so a fixed number of terms is exact at every ρ.
* for small odd p, where the series converges only algebraically at ρ = 1, the expansion in
  η = (1-ρ)²/(4ρ): writing D = 4ρ(v + η) with v = (1+t)/2 ~ Beta(a, a), a = (p-1)/2 an integer,
  E log(v + η) = A(η) + T(η) log η with A a power series of radius 1 and T a polynomial, both with
  rational coefficients computed exactly once per dimension.

All functions take ρ together with ρ̄ = 1 - ρ (formed without cancellation by the caller, e.g. from
a logit) and evaluate every series as one power-matrix product, so the cost is a handful of tensor
operations regardless of p. Coefficient tables are cached per (p, dtype, device).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import torch
from torch import Tensor

# Terms of the ρ²-series are dropped once their coefficient is below this (relative to O(1) sums).
_SERIES_TOL = 1e-21
# Odd dimensions up to this one switch to the η-expansion for ρ > 1/2 (there η ≤ 1/8 and
# _ETA_TERMS terms of A are exact to double precision): at ρ = 1 their ρ²-series needs
# 3900 (p=7), 675 (p=9), 86 (p=15) terms, against at most 64 for p = 17..129.
_ETA_MAX_DIM = 15
_RHO_SPLIT = 0.5
_ETA_TERMS = 28
# ρ²-terms used below the split: 4^-40 ≈ 1e-24.
_HALF_TERMS = 40
# Unsplit series end by tolerance long before this (K ≈ sqrt(24 p) ≈ 490 at p = 10⁴).
_NO_LIMIT = 1_000_000


def _ratio_products(top: float, bottom: float, max_terms: int) -> list[float]:
    """r_n = (top)_n / (bottom)_n for n = 1, 2, ...

    Stops when the product terminates (top a non-positive integer), when |r_n| < _SERIES_TOL, or
    after ``max_terms`` terms. |r_n| decreases because bottom > |top| here.
    """
    out, r = [], 1.0
    for n in range(max_terms):
        r *= (top + n) / (bottom + n)
        if r == 0.0:
            break
        out.append(r)
        if abs(r) < _SERIES_TOL:
            break
    return out


@lru_cache(maxsize=None)
def _log_series(p: int, max_terms: int) -> tuple[float, ...]:
    """c_k = (1-p/2)_k/(p/2)_k for k = 1..K: g_p = -Σ c_k ρ^{2k}/k."""
    return tuple(_ratio_products(1.0 - p / 2, p / 2, max_terms))


@lru_cache(maxsize=None)
def _inv_square_series(p: int, max_terms: int) -> tuple[float, ...]:
    """d_n = (n+1)(2-p/2)_n/(p/2+1)_n, n = 0..N: E_{p+2} D⁻² = Σ d_n ρ^{2n}."""
    ratios = _ratio_products(2.0 - p / 2, p / 2 + 1, max_terms)
    return (1.0, *((n + 1) * r for n, r in enumerate(ratios, start=1)))


def uses_eta_expansion(p: int) -> bool:
    """True when odd ``p`` needs the η-expansion near ρ = 1 (its ρ²-series is too slow there)."""
    return p % 2 == 1 and p <= _ETA_MAX_DIM


@lru_cache(maxsize=None)
def _beta_log_expansion(a: int, n_terms: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact Taylor coefficients of A and T in E log(v + η) = A(η) + T(η) log η, v ~ Beta(a, a).

    With f(v) = v^{a-1}(1-v)^{a-1}/B(a,a) = Σ_j f_j v^j and m = j+1,
    ∫₀¹ v^j log(v+η) dv = log(1+η)(1-(-η)^m)/m + (-η)^m log(η)/m
                          - (1/m) Σ_{i=1}^{m} C(m,i) (-η)^{m-i} ((1+η)^i - η^i)/i.
    Rational arithmetic avoids the cancellation that the monomial form would cause in floats.
    """
    inv_beta = Fraction(math.factorial(2 * a - 1), math.factorial(a - 1) ** 2)
    big_a = [Fraction(0)] * n_terms
    t = [Fraction(0)] * (2 * a + 1)
    s = [Fraction(0)] * (2 * a + 1)  # polynomial multiplying log(1+η)
    for j in range(a - 1, 2 * a - 1):
        f = inv_beta * math.comb(a - 1, j - a + 1) * (-1) ** (j - a + 1)
        m = j + 1
        s[0] += f / m
        s[m] -= f * (-1) ** m / m
        t[m] += f * (-1) ** m / m
        for i in range(1, m + 1):
            coef = -f / m * math.comb(m, i) * (-1) ** (m - i) / i
            for lo in range(i):  # (1+η)^i - η^i = Σ_{l<i} C(i,l) η^l
                big_a[m - i + lo] += coef * math.comb(i, lo)
    for deg, sd in enumerate(s):
        if sd:
            for n in range(1, n_terms - deg):
                big_a[deg + n] += sd * Fraction((-1) ** (n + 1), n)
    return tuple(float(x) for x in big_a), tuple(float(x) for x in t)


@lru_cache(maxsize=None)
def _tables(p: int, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    """Per-(p, dtype, device) coefficient matrices; see the module docstring."""
    f64 = dict(dtype=torch.float64)
    out: dict[str, Tensor] = {}
    split = uses_eta_expansion(p)
    k_max = _HALF_TERMS if split else _NO_LIMIT
    c = torch.tensor(_log_series(p, k_max) or (0.0,), **f64)
    k = torch.arange(1, len(c) + 1, **f64)
    # Columns over powers ρ^{2(k-1)}: g/ρ² and g'/(2ρ).
    out["log"] = torch.stack([-c / k, -c], dim=1)
    out["log_pow"] = k - 1
    d = torch.tensor(_inv_square_series(p, k_max) if p > 2 else (1.0,), **f64)
    out["inv2"] = d.unsqueeze(1)
    out["inv2_pow"] = torch.arange(len(d), **f64)
    if split:
        a = (p - 1) // 2
        ca, ct = (torch.tensor(x, **f64) for x in _beta_log_expansion(a, _ETA_TERMS))
        cb, cu = (torch.tensor(x, **f64) for x in _beta_log_expansion(a + 1, _ETA_TERMS))
        ct = torch.nn.functional.pad(ct, (0, _ETA_TERMS - len(ct)))
        cu = torch.nn.functional.pad(cu, (0, _ETA_TERMS - len(cu)))
        n = torch.arange(_ETA_TERMS, **f64)

        def deriv(x: Tensor) -> Tensor:  # coefficients of d/dη
            return torch.nn.functional.pad(x[1:] * n[1:], (0, 1))

        def shift(x: Tensor, j: int) -> Tensor:  # coefficients of x(η)/η^j (x has η^j factor)
            return torch.nn.functional.pad(x[j:], (0, j))

        # Columns over powers η^n:
        # A_a, T_a, A_a', T_a', T_a/η  (for g and g')
        # A_{a+1}'', T_{a+1}'', 2T_{a+1}'/η - T_{a+1}/η²  (for E_{p+2} (v+η)⁻² = -J'')
        cu1 = deriv(cu)
        out["eta"] = torch.stack(
            [ca, ct, deriv(ca), deriv(ct), shift(ct, 1),
             deriv(deriv(cb)), deriv(cu1), 2 * shift(cu1, 1) - shift(cu, 2)],
            dim=1,
        )
        out["eta_pow"] = n
    return {key: v.to(dtype=dtype, device=device) for key, v in out.items()}


def _powers(x: Tensor, exponents: Tensor) -> Tensor:
    """x[..., None] ** exponents, with 0**0 = 1."""
    return torch.pow(x.unsqueeze(-1), exponents)


def log_moments(p: int, rho: Tensor, rho_bar: Tensor) -> tuple[Tensor, Tensor]:
    """(g_p(ρ), g_p'(ρ)) for ρ ∈ [0, 1], given ρ̄ = 1 - ρ. Shapes: (...) -> (...), (...)."""
    tab = _tables(p, rho.dtype, rho.device)
    r2 = rho * rho
    coef = _powers(r2, tab["log_pow"]) @ tab["log"]
    g, dg = r2 * coef[..., 0], 2 * rho * coef[..., 1]
    if "eta" in tab:
        g_eta, dg_eta, _ = _eta_branch(tab, rho, rho_bar)
        near = rho > _RHO_SPLIT
        g, dg = torch.where(near, g_eta, g), torch.where(near, dg_eta, dg)
    return g, dg


def inv_square_moment(p: int, rho: Tensor, rho_bar: Tensor) -> Tensor:
    """F_p(ρ) = E_{p+2}(1 + ρ² + 2ρt)⁻², t with density ∝ (1-t²)^{(p-1)/2}. Shape (...)."""
    if p == 2:  # the only dimension whose series does not terminate or decay: 1/(1-ρ²)
        return 1 / (rho_bar * (1 + rho))
    tab = _tables(p, rho.dtype, rho.device)
    f = (_powers(rho * rho, tab["inv2_pow"]) @ tab["inv2"])[..., 0]
    if "eta" in tab:
        _, _, f_eta = _eta_branch(tab, rho, rho_bar)
        f = torch.where(rho > _RHO_SPLIT, f_eta, f)
    return f


def _eta_branch(tab: dict[str, Tensor], rho: Tensor, rho_bar: Tensor) -> tuple[Tensor, ...]:
    """g, g' and F from the η-expansion; valid for ρ ≥ 1/2 (η ≤ 1/8), clamped elsewhere."""
    rho = rho.clamp_min(_RHO_SPLIT)
    rho_bar = rho_bar.clamp_max(1 - _RHO_SPLIT)
    eta = rho_bar * rho_bar / (4 * rho)
    tiny = torch.finfo(rho.dtype).tiny
    log_eta = torch.log(eta.clamp_min(tiny))
    c = _powers(eta, tab["eta_pow"]) @ tab["eta"]
    g = torch.log(4 * rho) + c[..., 0] + c[..., 1] * log_eta
    dj = c[..., 2] + c[..., 3] * log_eta + c[..., 4]
    deta_drho = -rho_bar * (1 + rho) / (4 * rho * rho)
    dg = 1 / rho + dj * deta_drho
    # E_{p+2} D⁻² = E (4ρ)⁻²(v+η)⁻² = -J''_{a+1}(η) / (16ρ²)
    neg_j2 = -(c[..., 5] + c[..., 6] * log_eta + c[..., 7])
    f = neg_j2 / (16 * rho * rho)
    return g, dg, f
