"""Scalar numerics of the Power Spherical distribution PS(μ, κ) on S^{p-1} (De Cao & Aziz 2020).

Density w.r.t. surface area: C(κ) (1 + μᵀx)^κ, with α = β + κ, β = (p-1)/2 and
    log C = -(α+β) log 2 - β log π + D(α),       D(x) = lgamma(x+β) - lgamma(x).
By the duplication formula (log 2 and the π terms cancel against log|S^{p-1}|):
    KL(PS ‖ uniform) = D(β+κ) - D(β) - κ D'(β+κ),      dKL/dκ = -κ D''(β+κ),
    d²KL/dκ² = -D''(β+κ) - κ D'''(β+κ).
For κ ≥ β/2 this is evaluated with the cancellation-free D of special.gamma_ratio; below, where it
would subtract nearly equal numbers, from its Taylor series at κ = 0,
    KL = Σ_{n≥2} c_n κⁿ = Σ (c_n βⁿ)(κ/β)ⁿ,   c_n = (n-1)(-1)ⁿ/n · [ζ(n, β) - ζ(n, 2β)],
(ζ the Hurwitz zeta function)
whose terms shrink at least like 2⁻ⁿ there.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .autograd import with_derivative
from .checks import check_dim
from .gamma_ratio import log_gamma_ratio, log_gamma_ratio3
from .tables import constant_table

_SERIES_TERMS = 56  # 2^-56 < 1e-16


@constant_table
def _kl_series(beta: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Columns (c_n βⁿ, n c_n βⁿ, n(n-1) c_n βⁿ) over powers (κ/β)^{n-2}, n = 2..N (scaled: βⁿ
    overflows)."""
    n = torch.arange(2, _SERIES_TERMS + 2, dtype=torch.float64)
    zeta = torch.special.zeta(n, torch.tensor(beta, dtype=torch.float64)) - torch.special.zeta(
        n, torch.tensor(2 * beta, dtype=torch.float64))
    c = (n - 1) * (-1) ** n / n * zeta * beta**n
    return torch.stack([c, n * c, n * (n - 1) * c], dim=1).to(dtype=dtype, device=device)


def ps_beta(dim: int) -> float:
    check_dim(dim)
    return (dim - 1) / 2


@torch.no_grad()
def _kl_parts(beta: float, k: Tensor, second: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """(KL, dKL/dκ, d²KL/dκ² if ``second``) at κ = ``k``, each from the series below β/2."""
    d, d1, d2 = log_gamma_ratio(k + beta, beta)
    d0 = math.lgamma(2 * beta) - math.lgamma(beta)
    kl = d - d0 - k * d1
    dkl = -k * d2
    tab = _kl_series(beta, k.dtype, k.device)
    r = k.clamp_max(beta / 2) / beta
    pw = torch.pow(r.unsqueeze(-1), torch.arange(tab.shape[0], dtype=k.dtype, device=k.device))
    series = pw @ tab
    small = k < beta / 2
    kl = torch.where(small, r * r * series[..., 0], kl)
    dkl = torch.where(small, r * series[..., 1] / beta, dkl)
    d2kl = None
    if second:
        d2kl = -d2 - k * log_gamma_ratio3(k + beta, beta)
        d2kl = torch.where(small, series[..., 2] / (beta * beta), d2kl)
    return kl, dkl, d2kl


def ps_kl_uniform(dim: int, kappa: Tensor) -> Tensor:
    """KL(PS(μ, κ) ‖ Uniform(S^{dim-1})) for ``kappa`` ≥ 0, shape of ``kappa``, differentiable
    twice."""
    beta = ps_beta(dim)
    kl, dkl, _ = _kl_parts(beta, kappa.detach(), False)

    def higher(k: Tensor) -> Tensor:
        _, d1, d2 = _kl_parts(beta, k.detach(), True)
        return with_derivative(k, d1, d2, name="d/dκ KL(PS ‖ uniform)")

    return with_derivative(kappa, kl, dkl, higher, name="KL(PS ‖ uniform)")


def ps_log_normalizer(dim: int, kappa: Tensor, *, at_mode: bool = False) -> Tensor:
    """log C(κ) (density C(1+μᵀx)^κ w.r.t. surface area), differentiable twice in ``kappa``.

    With ``at_mode``, the log-density at the mode, log C + κ log 2 = -(p-1) log 2 - β log π + D(α),
    formed without the two O(κ) terms that cancel in it.
    """
    beta = ps_beta(dim)
    value, deriv, _ = _log_normalizer_parts(beta, kappa.detach(), at_mode, False)

    def higher(k: Tensor) -> Tensor:
        # recomputed from k rather than captured: a closure over tensors of this call would
        # escape the torch.func transform (vmap level) they were created under
        _, d1, d2 = _log_normalizer_parts(beta, k.detach(), at_mode, True)
        return with_derivative(k, d1, d2, name="d/dκ log C(κ) of PS")

    return with_derivative(kappa, value, deriv, higher, name="Power Spherical log-normalizer")


@torch.no_grad()
def _log_normalizer_parts(beta: float, k: Tensor, at_mode: bool, second: bool
                          ) -> tuple[Tensor, Tensor, Tensor | None]:
    """(log C or its value at the mode, its κ-derivative, D''(β+κ) if ``second``) at κ = ``k``."""
    alpha = k + beta
    d, d1, d2 = log_gamma_ratio(alpha, beta)
    scale = 2 * beta if at_mode else alpha + beta
    value = -scale * math.log(2) - beta * math.log(math.pi) + d
    deriv = d1 if at_mode else d1 - math.log(2)
    return value, deriv, d2 if second else None
