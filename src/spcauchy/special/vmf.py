"""Scalar numerics of the von Mises–Fisher distribution vMF(μ, κ) on S^{p-1}.

With ν = p/2 - 1 and f = ₀F₁(; p/2; κ²/4) = Γ(p/2)(2/κ)^ν I_ν(κ) (special.bessel):

    log C_p(κ)   = -log|S^{p-1}| - log f      (density e^{κμᵀx} C_p(κ) w.r.t. surface area)
    A_p(κ)       = E μᵀx = I_{p/2}/I_{p/2-1} = d log f/dκ
    KL(vMF ‖ U)  = κA - log f = -κ(1-A) - (log f - κ),     dKL/dκ = κA'(κ)
    Var μᵀx      = A'(κ),   E[1-(μᵀx)²]/(p-1) = A/κ

The first form of the KL is used where A < 1/2 (both terms O(κ²) at small κ), the second above
(both O(p log κ) at large κ): neither ever subtracts two large numbers.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .autograd import with_derivative
from .bessel import (
    BesselTerms,
    bessel_ratio,
    bessel_ratio_derivative,
    bessel_terms,
    over_kappa,
)
from .checks import check_dim


def vmf_terms(dim: int, kappa: Tensor, *, second: bool = False) -> BesselTerms:
    """Bessel terms of order ν = p/2 - 1 at ``kappa`` (no grad), shape of ``kappa``; ``second``
    adds A''."""
    check_dim(dim)
    with torch.no_grad():
        return bessel_terms(dim / 2 - 1, kappa.detach(), second=second)


def kl_from_terms(dim: int, kappa: Tensor, terms: BesselTerms) -> Tensor:
    """KL(vMF(μ, κ) ‖ uniform), differentiable in ``kappa``: derivative κA', second A' + κA''."""
    with torch.no_grad():
        small = kappa * terms.ratio - terms.log_f
        large = -kappa * terms.ratio_comp - terms.log_f_scaled
        kl = torch.where(terms.ratio < 0.5, small, large)
    return with_derivative(kappa, kl, terms.kappa_dratio,
                           lambda k: k * bessel_ratio_derivative(dim / 2 - 1, k),
                           name="KL(vMF ‖ uniform)")


def log_f_scaled_from_terms(dim: int, kappa: Tensor, terms: BesselTerms) -> Tensor:
    """log ₀F₁(; p/2; κ²/4) - κ, differentiable in ``kappa`` (derivative A - 1 = -B, then A')."""
    # higher recomputes the terms from k rather than capturing ``terms``: a closure over tensors
    # of this call would escape the torch.func transform (vmap level) they were created under
    return with_derivative(kappa, terms.log_f_scaled, -terms.ratio_comp,
                           lambda k: ratio_from_terms(dim, k, vmf_terms(dim, k)) - 1,
                           name="vMF log-normalizer")


def ratio_from_terms(dim: int, kappa: Tensor, terms: BesselTerms) -> Tensor:
    """A_p(κ) = E μᵀx, differentiable in ``kappa`` (derivative A'(κ) = P/κ, and 1/p at κ = 0)."""
    return bessel_ratio(dim / 2 - 1, kappa, terms)


def variance_parts(dim: int, kappa: Tensor) -> tuple[Tensor, Tensor]:
    """(Var μᵀx, E[1-(μᵀx)²]/(p-1)) = (A', A/κ) (→ 1/p at κ = 0), differentiable in ``kappa``.

    Their derivatives are A'' and, from the Riccati equation A' = 1 - A² - (p-1)A/κ,
    (A/κ)' = -(2AA' + A'')/(p-1): A'' ≤ 0 removes at most 3/4 of 2AA' (p = 2, κ → 0), whereas
    (κA' - A)/κ² would cancel completely as κ → 0.
    """
    terms = vmf_terms(dim, kappa, second=True)
    var_axis = bessel_ratio_derivative(dim / 2 - 1, kappa, terms)
    with torch.no_grad():
        transverse = over_kappa(terms.ratio, kappa, 1.0 / dim)
        d_transverse = -(2 * terms.ratio * var_axis + terms.d2ratio) / (dim - 1)
    return var_axis, with_derivative(kappa, transverse, d_transverse,
                                     name="vMF transverse variance")
