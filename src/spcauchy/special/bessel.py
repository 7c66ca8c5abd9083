"""Modified Bessel functions of the first kind in pure torch: log I_ν(κ) and I_{ν+1}/I_ν.

The von Mises–Fisher normalizer on S^{p-1} needs ν = p/2 - 1 ∈ [0, 5000] and κ ∈ [0, 10⁸].
Everything is expressed through the normalized function

    f_ν(κ) = Γ(ν+1) (2/κ)^ν I_ν(κ) = ₀F₁(; ν+1; κ²/4)    (f_ν(0) = 1, f_ν' / f_ν = A_ν)

whose logarithm L = log f_ν vanishes at κ = 0, and the ratio A_ν(κ) = I_{ν+1}(κ)/I_ν(κ) = L'(κ).
Alongside them: Ls = L - κ (= log of the exponentially scaled f), B = 1 - A, P = κ A'(κ) and, on
request, A''(κ) (derivatives of the vMF variance, second derivatives), each formed without
cancellation so that log-normalizers, KLs and their derivatives keep their relative
accuracy at both ends of the κ range.

Method (docs/math.md, "Baselines"):

* for ν ≥ 15, the uniform asymptotic (Debye) expansion, with z = κ/ν, q = √(1+z²), t = 1/q,
      L = ν [z²/(1+q) - log1p(z²/(2(1+q)))] - ¼ log1p(z²) + log(S(t)/S(1)),
      S(t) = Σ_{k≤12} U_k(t)/ν^k     (U_k the Debye polynomials, exact rational coefficients);
  its truncation error is below 1e-15 for ν ≥ 15 uniformly in κ (tests/test_bessel.py);
* for smaller ν, the expansion at ν + M ≥ 15 followed by M steps of the backward recurrence
      A_{ν-1} = κ/(2ν + κA_ν),   L_{ν-1} = L_ν + log1p(κA_ν/(2ν)),
  in which every operation adds or multiplies positive numbers, so no accuracy is lost.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache
from typing import NamedTuple

import torch
from torch import Tensor

from .autograd import with_derivative
from .tables import constant_table

_NU_DEBYE = 15.0
_DEBYE_TERMS = 12


class BesselTerms(NamedTuple):
    """Cancellation-free pieces of the normalized Bessel function; all of shape (...)."""

    log_f: Tensor  # L = log ₀F₁(; ν+1; κ²/4) ≥ 0
    log_f_scaled: Tensor  # Ls = L - κ
    ratio: Tensor  # A = I_{ν+1}/I_ν ∈ [0, 1)
    ratio_comp: Tensor  # B = 1 - A
    kappa_dratio: Tensor  # P = κ A'(κ) ≥ 0
    d2ratio: Tensor | None = None  # A''(κ) ≤ 0, only with ``second=True``


@cache
def _debye_polynomials(n_terms: int) -> tuple[tuple[Fraction, ...], ...]:
    """Coefficients (in powers of t) of U_0..U_n:
    U_{k+1}(t) = ½t²(1-t²)U_k'(t) + ⅛∫₀ᵗ(1-5s²)U_k(s)ds."""
    polys = [(Fraction(1),)]
    for _ in range(n_terms):
        u = polys[-1]
        nxt = [Fraction(0)] * (len(u) + 4)
        for i in range(1, len(u)):
            nxt[i + 1] += i * u[i] / 2
            nxt[i + 3] -= i * u[i] / 2
        for i, c in enumerate(u):
            nxt[i + 1] += c / (8 * (i + 1))
            nxt[i + 3] -= 5 * c / (8 * (i + 3))
        polys.append(tuple(nxt[: 3 * len(polys) + 1]))
    return tuple(polys)


@constant_table
def _debye_table(nu: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Columns over powers t^j: (S(t)-S(1))/((t-1)S(1)), S(t)/S(1), S'(t)/S(1), S''(t)/S(1),
    S'''(t)/S(1)."""
    polys = _debye_polynomials(_DEBYE_TERMS)
    n = 3 * _DEBYE_TERMS + 1
    nu_f = Fraction(nu)
    s = [Fraction(0)] * n
    for k, u in enumerate(polys):
        for j, c in enumerate(u):
            s[j] += c / nu_f**k
    s1 = sum(s)
    # Synthetic division by (t - 1): the quotient has coefficients v_j = Σ_{i>j} s_i.
    v = [sum(s[j + 1 :], Fraction(0)) for j in range(n - 1)] + [Fraction(0)]
    ds = [(j + 1) * s[j + 1] for j in range(n - 1)] + [Fraction(0)]
    d2s = [(j + 1) * ds[j + 1] for j in range(n - 1)] + [Fraction(0)]
    d3s = [(j + 1) * d2s[j + 1] for j in range(n - 1)] + [Fraction(0)]
    cols = [[float(c / s1) for c in col] for col in (v, s, ds, d2s, d3s)]
    return torch.tensor(cols, dtype=torch.float64).T.contiguous().to(dtype=dtype, device=device)


def _debye(nu: float, kappa: Tensor, second: bool) -> BesselTerms:
    """All terms from the Debye expansion at order ``nu`` ≥ 15."""
    tab = _debye_table(nu, kappa.dtype, kappa.device)
    z = kappa / nu
    z2 = z * z
    q = torch.sqrt(1 + z2)
    t = 1 / q
    pw = torch.pow(t.unsqueeze(-1), torch.arange(tab.shape[0], dtype=t.dtype, device=t.device))
    c = pw @ tab
    v, s, ds, d2s, d3s = c.unbind(-1)
    one_m_t = z2 / (q * (1 + q))  # 1 - t without cancellation
    log_s = torch.log1p(-one_m_t * v)
    log_f = nu * (z2 / (1 + q) - torch.log1p(z2 / (2 * (1 + q)))) - 0.25 * torch.log1p(z2) + log_s
    # Ls = L - κ: q - 1 - z = 1/(q+z) - 1 = -(z + z²/(1+q))/(q+z), exact at both ends of z
    log_f_scaled = (-nu * ((z + z2 / (1 + q)) / (q + z) + torch.log1p(z2 / (2 * (1 + q))))
                    - 0.25 * torch.log1p(z2) + log_s)
    ds_s, d2s_s = ds / s, d2s / s
    r = t * t / 2 + t**3 * ds_s  # A = z/(1+q) - z R/ν
    dr = t + 3 * t * t * ds_s + t**3 * (d2s_s - ds_s * ds_s)
    ratio = z / (1 + q) - z * r / nu
    ratio_comp = (1 + 1 / (q + z)) / (1 + q) + z * r / nu
    kappa_dratio = z * (t / (1 + q) - (r - one_m_t * (1 + t) * t * dr) / nu)
    d2ratio = None
    if second:
        # With dt/dz = -zt³ and 1 - t² = z²t²: d²A/dz² = -zt³(1+2q)/(1+q)² - zt⁵(z²t r'' - 3r')/ν,
        # r' = t + 3t²u + t³u', r'' = 1 + 6tu + 6t²u' + t³u'' for u = S'/S; A'' = (d²A/dz²)/ν².
        du = d2s_s - ds_s * ds_s
        d2u = d3s / s - ds_s * d2s_s - 2 * ds_s * du
        d2r = 1 + 6 * t * ds_s + 6 * t * t * du + t**3 * d2u
        d2a = -z * t**3 * ((1 + 2 * q) / (1 + q) ** 2 + t * t * (z2 * t * d2r - 3 * dr) / nu)
        d2ratio = d2a / (nu * nu)
    return BesselTerms(log_f, log_f_scaled, ratio, ratio_comp, kappa_dratio, d2ratio)


def bessel_terms(nu: float, kappa: Tensor, *, second: bool = False) -> BesselTerms:
    """L, L - κ, A, 1 - A and κA' of the normalized I_ν at ``kappa`` ≥ 0 (any shape, no grad);
    with ``second``, also A''.

    ``nu`` ≥ 0 is a Python number (ν = p/2 - 1 for the vMF on S^{p-1}).
    """
    if not (isinstance(nu, (int, float)) and math.isfinite(nu) and nu >= 0):
        raise ValueError(f"nu must be a finite number ≥ 0, got {nu!r}")
    steps = max(0, math.ceil(_NU_DEBYE - nu))
    top = _debye(float(nu + steps), kappa, second)
    log_f, log_f_scaled, a, b, pk, d2 = top
    for j in range(steps, 0, -1):
        two_nu = 2 * (nu + j)  # going from order ν+j to ν+j-1
        den = two_nu + kappa * a
        step = torch.log1p(kappa * a / two_nu)
        log_f, log_f_scaled = log_f + step, log_f_scaled + step
        a_new = kappa / den
        if second:
            # A''_{ν-1} = -(2P + κ²A'')/den² - 2(2ν - κP)(A + P)/den³ (differentiating the line
            # below); where the first numerator cancels (κ → ∞) the second term dominates by κ.
            d2 = (-(2 * pk + kappa * kappa * d2) / den
                  - 2 * (two_nu - kappa * pk) * (a + pk) / (den * den)) / den
        # P_{ν-1} = (2ν - κ P_ν... written via Q = κ²A': Q_{ν-1} = (2ν - Q_ν) A_{ν-1}²
        pk = (two_nu - kappa * pk) * a_new / den
        b = (two_nu - kappa * b) / den
        a = a_new
    return BesselTerms(log_f, log_f_scaled, a, b, pk, d2)


def over_kappa(x: Tensor, kappa: Tensor, limit: float) -> Tensor:
    """x/κ for x = κ(limit + O(κ²)) (no grad): the limit itself below κ = √eps, where the O(κ²)
    term is below rounding, so that κ and x near underflow (subnormal, imprecise) never divide."""
    kappa = kappa.detach()
    small = kappa < torch.finfo(kappa.dtype).eps ** 0.5
    return torch.where(small, limit, x / torch.where(small, 1.0, kappa))


def _dratio(nu: float, kappa: Tensor, terms: BesselTerms) -> Tensor:
    """A'_ν(κ) = P/κ = 1/(2ν+2) - O(κ²) (no grad)."""
    return over_kappa(terms.kappa_dratio, kappa, 1 / (2 * nu + 2))


def bessel_ratio(nu: float, kappa: Tensor, terms: BesselTerms) -> Tensor:
    """A_ν(κ) from ``terms`` (those of ``kappa``), differentiable twice in ``kappa``."""
    return with_derivative(kappa, terms.ratio, _dratio(nu, kappa, terms),
                           lambda k: bessel_ratio_derivative(nu, k), name="Bessel ratio A_ν(κ)")


def bessel_ratio_derivative(nu: float, kappa: Tensor, terms: BesselTerms | None = None) -> Tensor:
    """A'_ν(κ), differentiable once in ``kappa`` (derivative A''); ``terms`` of ``kappa`` are
    recomputed unless they include A''."""
    if terms is None or terms.d2ratio is None:
        with torch.no_grad():
            terms = bessel_terms(nu, kappa.detach(), second=True)
    return with_derivative(kappa, _dratio(nu, kappa, terms), terms.d2ratio,
                           name="Bessel ratio derivative A_ν'(κ)")
