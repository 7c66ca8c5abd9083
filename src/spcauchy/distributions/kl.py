"""KL divergences between hyperspherical distributions, registered with torch.distributions."""

from __future__ import annotations

import torch
from torch.distributions.kl import register_kl

from ..special.spcauchy_kl import kl_uniform
from .power_spherical import PowerSpherical
from .spherical_cauchy import SphericalCauchy
from .uniform import HypersphericalUniform
from .von_mises_fisher import VonMisesFisher


def _check_dims(p: int, q: int) -> None:
    if p != q:
        raise ValueError(f"KL between distributions on spheres of different dimension ({p} vs {q})")


@register_kl(SphericalCauchy, HypersphericalUniform)
def _kl_spcauchy_uniform(p: SphericalCauchy, q: HypersphericalUniform) -> torch.Tensor:
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
    rho_a, bar_a, _ = p._parts
    rho_b, bar_b, _ = q._parts
    d2 = (rho_a.unsqueeze(-1) * p.loc - rho_b.unsqueeze(-1) * q.loc).square().sum(-1)
    c = bar_a * (1 + rho_a) * bar_b * (1 + rho_b)
    tiny = torch.finfo(d2.dtype).tiny
    r = torch.sqrt((d2 / (d2 + c)).clamp_min(tiny))
    r_bar = c / ((d2 + c) * (1 + r))
    return kl_uniform(p.dim, rho_logit=torch.log(r) - torch.log(r_bar))


@register_kl(VonMisesFisher, HypersphericalUniform)
def _kl_vmf_uniform(p: VonMisesFisher, q: HypersphericalUniform) -> torch.Tensor:
    _check_dims(p.dim, q.dim)
    kl = p.kl_to_uniform()
    return kl.expand(torch.broadcast_shapes(kl.shape, q.batch_shape))


@register_kl(PowerSpherical, HypersphericalUniform)
def _kl_power_spherical_uniform(p: PowerSpherical, q: HypersphericalUniform) -> torch.Tensor:
    _check_dims(p.dim, q.dim)
    kl = p.kl_to_uniform()
    return kl.expand(torch.broadcast_shapes(kl.shape, q.batch_shape))
