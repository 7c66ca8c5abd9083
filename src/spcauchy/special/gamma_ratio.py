"""Differences of log-gamma and polygamma functions without cancellation.

    D(x)   = lgamma(x+β) - lgamma(x),   D'(x) = ψ(x+β) - ψ(x),   D''(x) = ψ'(x+β) - ψ'(x),
    D'''(x) = ψ''(x+β) - ψ''(x)

for x ≥ β > 0. Plain differences lose all accuracy at large x (lgamma(10⁸) ≈ 1.7e9 while
D ≈ β log x, and ψ(x+β) - ψ(x) ≈ β/x). For x ≥ 10 the Stirling series is differenced term by
term instead:

    D(x)  = (x-½) log1p(β/x) + β log(x+β) - β + R(x+β) - R(x),   R(z) = Σ B_2k/(2k(2k-1) z^{2k-1})
    D'(x) = log1p(β/x) + β/(2x(x+β)) - Σ B_2k/(2k) [(x+β)^{-2k} - x^{-2k}]
    D''(x) = -β/(x(x+β)) - β(2x+β)/(2x²(x+β)²) + Σ B_2k [(x+β)^{-2k-1} - x^{-2k-1}]
    D'''(x) = β(2x+β)/(x²(x+β)²) + β(x² + x(x+β) + (x+β)²)/(x³(x+β)³)
              - Σ (2k+1) B_2k [(x+β)^{-2k-2} - x^{-2k-2}]

Seven Bernoulli terms make each series exact to double precision for z ≥ 10. Below 10 (then also
β < 10) the values are small and torch's lgamma/digamma/polygamma are used directly. D''' (second
derivatives of the Power Spherical KL) is computed only on request.
"""

from __future__ import annotations

import torch
from torch import Tensor

_X_ASYMPTOTIC = 10.0
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)  # B_2, ..., B_14


def _sum_powers(z: Tensor, coefs: tuple[float, ...], start: int) -> Tensor:
    """Σ_k coefs[k] z^{-(start + 2k)} by Horner in 1/z²."""
    inv = 1 / z
    inv2 = inv * inv
    acc = torch.zeros_like(z)
    for c in reversed(coefs):
        acc = acc * inv2 + c
    return acc * inv**start


def log_gamma_ratio3(x: Tensor, beta: float) -> Tensor:
    """D'''(x) for x ≥ β > 0 (``beta`` a Python number). Shape (...) -> (...)."""
    big = x >= _X_ASYMPTOTIC
    xa = x.clamp_min(_X_ASYMPTOTIC)
    xb = xa + beta
    s3 = [(2 * k + 1) * b for k, b in enumerate(_BERNOULLI, start=1)]
    d3 = (beta * (2 * xa + beta) / (xa * xa * xb * xb)
          + beta * (xa * xa + xa * xb + xb * xb) / (xa * xb) ** 3
          - (_sum_powers(xb, s3, 4) - _sum_powers(xa, s3, 4)))
    xs = x.clamp_max(_X_ASYMPTOTIC)
    return torch.where(big, d3, torch.polygamma(2, xs + beta) - torch.polygamma(2, xs))


def log_gamma_ratio(x: Tensor, beta: float) -> tuple[Tensor, Tensor, Tensor]:
    """(D(x), D'(x), D''(x)) for x ≥ β > 0 (``beta`` a Python number). Shapes (...) -> (...)."""
    big = x >= _X_ASYMPTOTIC
    xa = x.clamp_min(_X_ASYMPTOTIC)  # asymptotic branch, evaluated only where valid
    xb = xa + beta
    l1p = torch.log1p(beta / xa)
    r = [b / (2 * k * (2 * k - 1)) for k, b in enumerate(_BERNOULLI, start=1)]
    d = (xa - 0.5) * l1p + beta * torch.log(xb) - beta + _sum_powers(xb, r, 1) - _sum_powers(
        xa, r, 1)
    s1 = [b / (2 * k) for k, b in enumerate(_BERNOULLI, start=1)]
    d1 = l1p + beta / (2 * xa * xb) - (_sum_powers(xb, s1, 2) - _sum_powers(xa, s1, 2))
    d2 = (-beta / (xa * xb) - beta * (2 * xa + beta) / (2 * xa * xa * xb * xb)
          + _sum_powers(xb, _BERNOULLI, 3) - _sum_powers(xa, _BERNOULLI, 3))
    xs = x.clamp_max(_X_ASYMPTOTIC)  # direct branch
    d_s = torch.lgamma(xs + beta) - torch.lgamma(xs)
    d1_s = torch.digamma(xs + beta) - torch.digamma(xs)
    d2_s = torch.polygamma(1, xs + beta) - torch.polygamma(1, xs)
    return torch.where(big, d, d_s), torch.where(big, d1, d1_s), torch.where(big, d2, d2_s)
