"""KL divergences between hyperspherical distributions, registered with torch.distributions."""

from __future__ import annotations

import torch
from torch.distributions.kl import register_kl

from ..special.spcauchy_kl import kl_uniform
from .axial import AxialDistribution
from .spherical_cauchy import SphericalCauchy
from .uniform import HypersphericalUniform


def _check_dims(p: int, q: int) -> None:
    if p != q:
        raise ValueError(f"KL between distributions on spheres of different dimension ({p} vs {q})")


@register_kl(AxialDistribution, HypersphericalUniform)
def _kl_axial_uniform(p: AxialDistribution, q: HypersphericalUniform) -> torch.Tensor:
    """spCauchy, vMF and Power Spherical: each family's own exact ``kl_to_uniform``."""
    _check_dims(p.dim, q.dim)
    kl = p.kl_to_uniform()
    return kl.expand(torch.broadcast_shapes(kl.shape, q.batch_shape))


@register_kl(HypersphericalUniform, HypersphericalUniform)
def _kl_uniform_uniform(p: HypersphericalUniform, q: HypersphericalUniform) -> torch.Tensor:
    _check_dims(p.dim, q.dim)
    return torch.zeros(torch.broadcast_shapes(p.batch_shape, q.batch_shape), dtype=p.dtype,
                       device=p.device)


@register_kl(SphericalCauchy, SphericalCauchy)
def _kl_spcauchy_spcauchy(p: SphericalCauchy, q: SphericalCauchy) -> torch.Tensor:
    """Möbius invariance: KL(spC(a) ‖ spC(b)) = KL(spC(r) ‖ uniform), a = ρ_a μ_a, b = ρ_b μ_b,

    with r = ‖a-b‖ / sqrt(‖a-b‖² + (1-‖a‖²)(1-‖b‖²)) the pseudo-hyperbolic distance of a and b in
    the unit ball (docs/math.md). r is passed as a logit so 1 - r is never formed by subtraction.
    """
    _check_dims(p.dim, q.dim)
    rho_a, bar_a, log_bar_a = p._parts
    rho_b, bar_b, log_bar_b = q._parts
    # ‖a-b‖² = (ρ_a-ρ_b)² + ρ_aρ_b‖μ_a-μ_b‖², with ρ_a-ρ_b = (1-ρ_b)-(1-ρ_a) exact near 1
    mu_dist2 = (p.loc - q.loc).square().sum(-1)
    d2 = torch.addcmul((bar_b - bar_a).square(), rho_a * rho_b, mu_dist2)
    positive = d2 > 0  # identical arguments: logit -inf, KL exactly 0, zero (not NaN) gradients
    log_d2 = torch.where(positive, torch.log(torch.where(positive, d2, 1.0)), -torch.inf)
    # log c = log(1-‖a‖²) + log(1-‖b‖²), kept in log space: c underflows when both ρ → 1
    log_c = log_bar_a + torch.log1p(rho_a) + log_bar_b + torch.log1p(rho_b)
    log_total = torch.logaddexp(log_d2, log_c)
    r = torch.exp(0.5 * (log_d2 - log_total))
    # logit r = log r - log(1-r), 1-r = (1-r²)/(1+r), 1-r² = c/(‖a-b‖²+c)
    logit = 0.5 * (log_d2 - log_total) - (log_c - log_total - torch.log1p(r))
    return kl_uniform(p.dim, rho_logit=logit)
