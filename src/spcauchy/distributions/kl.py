"""KL divergences between hyperspherical distributions, registered with torch.distributions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions.kl import register_kl

from ..special.precision import full_precision
from ..special.spcauchy_kl import kl_uniform
from .rotational import RotationallySymmetric, log_sq_distance
from .spherical_cauchy import SphericalCauchy
from .uniform import HypersphericalUniform


def _check_dims(p: int, q: int) -> None:
    if p != q:
        raise ValueError(f"KL between distributions on spheres of different dimension ({p} vs {q})")


@register_kl(RotationallySymmetric, HypersphericalUniform)
def _kl_rotational_uniform(p: RotationallySymmetric, q: HypersphericalUniform) -> torch.Tensor:
    """spCauchy, vMF and Power Spherical: each family's own exact ``kl_to_uniform``."""
    _check_dims(p.dim, q.dim)
    kl = p.kl_to_uniform()
    return kl.expand(torch.broadcast_shapes(kl.shape, q.batch_shape))


@register_kl(HypersphericalUniform, HypersphericalUniform)
def _kl_uniform_uniform(p: HypersphericalUniform, q: HypersphericalUniform) -> torch.Tensor:
    _check_dims(p.dim, q.dim)
    return torch.zeros(torch.broadcast_shapes(p.batch_shape, q.batch_shape), dtype=p.dtype,
                       device=p.device)


def _log_positive(x: torch.Tensor) -> torch.Tensor:
    """log x for x ≥ 0, with -inf and a zero (not NaN) gradient at x = 0."""
    positive = x > 0
    return torch.where(positive, torch.log(torch.where(positive, x, 1.0)), -torch.inf)


def _log_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(e^a + e^b), -inf with zero gradients where both are -inf (logaddexp's is NaN there)."""
    empty = (a == -torch.inf) & (b == -torch.inf)
    total = torch.logaddexp(torch.where(empty, 0.0, a), torch.where(empty, 0.0, b))
    return torch.where(empty, -torch.inf, total)


def _log_rho(d: SphericalCauchy) -> torch.Tensor:
    """log ρ, from the logit where given (ρ = sigmoid(η) underflows below η ≈ -88 in float32)."""
    return F.logsigmoid(d.rho_logit) if "rho_logit" in d.__dict__ else _log_positive(d.rho)


def _log_rho_bar_gap(p: SphericalCauchy, q: SphericalCauchy) -> torch.Tensor:
    """log|ρ̄_b - ρ̄_a| (ρ̄ = 1-ρ), -inf with zero gradient where the concentrations are equal.

    From logits, with l = min(η_a, η_b) and h = max: |ρ̄_b - ρ̄_a| = ρ̄(l) ρ(h) (1 - e^{l-h}), all
    factors in log space: exact for nearly equal logits, where the difference of the two ρ̄
    loses the digits that e^-45 - e^-45.0001 shares, and without forming (ρ̄_b - ρ̄_a)², which
    underflows float32 (and its log's gradient overflows) for logits above about 44.
    """
    if "rho_logit" in p.__dict__ and "rho_logit" in q.__dict__:
        lo = torch.minimum(p.rho_logit, q.rho_logit)
        hi = torch.maximum(p.rho_logit, q.rho_logit)
        equal = lo == hi  # also both -inf (ρ = 0), where lo - hi would be NaN
        gap = torch.where(equal, -1.0, lo - hi)
        log_gap = F.logsigmoid(-lo) + F.logsigmoid(hi) + torch.log(-torch.expm1(gap))
        return torch.where(equal, -torch.inf, log_gap)
    # from ρ, 1-ρ was formed by subtraction already; ρ_a-ρ_b = (1-ρ_b)-(1-ρ_a) is exact near 1
    return _log_positive((q._parts[1] - p._parts[1]).abs())


@register_kl(SphericalCauchy, SphericalCauchy)
@full_precision
def _kl_spcauchy_spcauchy(p: SphericalCauchy, q: SphericalCauchy) -> torch.Tensor:
    """Möbius invariance: KL(spC(a) ‖ spC(b)) = KL(spC(r) ‖ uniform), a = ρ_a μ_a, b = ρ_b μ_b,

    with r = ‖a-b‖ / sqrt(‖a-b‖² + (1-‖a‖²)(1-‖b‖²)) the pseudo-hyperbolic distance of a and b in
    the unit ball (docs/math.md). r is passed as a logit so 1 - r is never formed by subtraction.
    """
    _check_dims(p.dim, q.dim)
    rho_a, _, log_bar_a = p._parts
    rho_b, _, log_bar_b = q._parts
    # ‖a-b‖² = (ρ̄_b-ρ̄_a)² + ρ_aρ_b‖μ_a-μ_b‖², summed in log space: both terms underflow float32
    # near ρ = 1 (e^-90 at logits 45) while the log and its gradient are representable.
    # Identical arguments: log ‖a-b‖² = -inf, logit -inf, KL exactly 0, zero (not NaN) gradients.
    log_d2 = _log_add(2 * _log_rho_bar_gap(p, q),
                      _log_rho(p) + _log_rho(q) + log_sq_distance(p.loc - q.loc))
    # log c = log(1-‖a‖²) + log(1-‖b‖²), kept in log space: c underflows when both ρ → 1
    log_c = log_bar_a + torch.log1p(rho_a) + log_bar_b + torch.log1p(rho_b)
    log_total = torch.logaddexp(log_d2, log_c)
    r = torch.exp(0.5 * (log_d2 - log_total))
    # logit r = log r - log(1-r), 1-r = (1-r²)/(1+r), 1-r² = c/(‖a-b‖²+c)
    logit = 0.5 * (log_d2 - log_total) - (log_c - log_total - torch.log1p(r))
    return kl_uniform(p.dim, rho_logit=logit)
