"""The spherical Cauchy distribution on S^{p-1} (Kato & McCullagh 2020; Sablica & Hornik 2025)."""

from __future__ import annotations

import math

import torch
from torch.distributions import constraints
from torch.distributions.utils import lazy_property
from torch.types import _size

from ..special.mobius import mobius_sample
from ..special.precision import full_precision
from ..special.random import standard_normal
from ..special.spcauchy_kl import kl_uniform, one_of, rho_parts
from ..special.spcauchy_moments import (
    inv_square_moment,
    log_moments,
    mean_direction_variance,
)
from .constraints import unit_sphere
from .fit import fit_spcauchy
from .rotational import (
    RotationallySymmetric,
    broadcast_params,
    log_sq_distance,
    rotational_variance,
)
from .uniform import log_sphere_area


class SphericalCauchy(RotationallySymmetric):
    r"""Spherical Cauchy distribution spCauchy(μ, ρ) on the unit sphere S^{p-1} of R^p.

    Density w.r.t. the uniform probability measure: q(x) = ((1-ρ²)/(1+ρ²-2ρμᵀx))^{p-1}.
    ρ = 0 is the uniform distribution; ρ → 1 concentrates all mass at μ.

    Sampling is exact and reparameterized: with u uniform on the sphere and w = ρμ,
    x = w + (1-ρ²)(u + w)/‖u + w‖² (a Möbius transformation of the ball).

    Args:
        loc: mean direction μ, unit vectors of shape (..., p).
        rho: concentration ρ ∈ [0, 1), shape (...); or
        rho_logit: logit of ρ, any real, shape (...). Preferred near ρ = 1: 1-ρ is never formed by
            subtraction, so float32 stays exact at any concentration.

    ``batch_shape`` broadcasts loc[..., 0] with the concentration; ``event_shape`` is (p,).
    ``log_prob`` is w.r.t. the surface-area measure on S^{p-1} (torch convention).
    """

    arg_constraints = {
        "loc": unit_sphere,
        "rho": constraints.half_open_interval(0.0, 1.0),
        # -inf is ρ = 0 (allowed); +inf would be ρ = 1, a point mass
        "rho_logit": constraints.less_than(math.inf),
    }
    _params = ("rho", "rho_logit")

    def __init__(
        self,
        loc: torch.Tensor,
        rho: torch.Tensor | float | None = None,
        *,
        rho_logit: torch.Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        param, is_logit = one_of(rho, rho_logit, "SphericalCauchy")
        name = "rho_logit" if is_logit else "rho"
        self.loc, self.__dict__[name], batch_shape = broadcast_params(
            "SphericalCauchy", loc, param, name)
        p = loc.shape[-1]
        super().__init__(batch_shape, torch.Size([p]), validate_args=validate_args)

    @classmethod
    def fit(cls, x: torch.Tensor, weights: torch.Tensor | None = None, *,
            init: tuple[torch.Tensor, torch.Tensor] | None = None, max_iter: int = 100,
            tol: float | None = None) -> SphericalCauchy:
        """Maximum-likelihood fit to points x (..., n, p), n ≥ 3, with optional nonnegative
        weights (..., n); ``batch_shape`` is their broadcast leading dims. Returned with
        ``rho_logit`` (exact near ρ = 1). ``init`` = (loc, rho_logit) warm-starts Newton's method
        (``distributions.fit.fit_spcauchy``)."""
        loc, rho_logit = fit_spcauchy(x, weights, init=init, max_iter=max_iter, tol=tol)
        return cls(loc, rho_logit=rho_logit)

    @lazy_property
    def rho(self) -> torch.Tensor:
        return torch.sigmoid(self.rho_logit)

    @lazy_property
    def rho_logit(self) -> torch.Tensor:
        return torch.logit(self.rho)

    @lazy_property
    def _parts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ρ, 1-ρ, log(1-ρ)) computed from whichever parameter was given."""
        if "rho_logit" in self.__dict__:
            return rho_parts(None, self.rho_logit)
        return rho_parts(self.rho, None)

    @full_precision
    def rsample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        n = standard_normal(shape, self.loc.dtype, self.loc.device)
        u = n / torch.linalg.vector_norm(n, dim=-1, keepdim=True)
        if "rho_logit" in self.__dict__:
            return mobius_sample(self.loc, u, rho_logit=self.rho_logit)
        return mobius_sample(self.loc, u, self.rho)

    @full_precision
    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        rho, _, log_rho_bar = self._parts
        log_num = log_rho_bar + torch.log1p(rho)  # log(1-ρ²)
        # log(1+ρ²-2ρμᵀx) in two regimes, each evaluated on clamped inputs so that neither the
        # value nor the gradient of the branch torch.where discards can be inf or NaN:
        # ρ ≤ 1/2: log1p(ρ² - 2ρμᵀx), smooth at ρ = 0 (where log ρ would give a NaN gradient);
        # ρ > 1/2: log((1-ρ)² + ρ‖x-μ‖²) summed in log space, exact at the mode even when
        #          (1-ρ)² underflows float32, and with a log‖x-μ‖² that is zero-safe at x = μ and
        #          computed without forming ‖x-μ‖² (which underflows float32 near the mode).
        diff = value - self.loc
        dist2 = diff.square().sum(-1)
        rho_lo = rho.clamp_max(0.5)
        log_lo = torch.log1p(rho_lo * (rho_lo - 2 + dist2))  # (1-ρ)² + ρ‖x-μ‖² - 1
        log_dist2 = log_sq_distance(diff)
        log_hi = torch.logaddexp(2 * log_rho_bar.clamp_max(math.log(0.5)),
                                 torch.log(rho.clamp_min(0.5)) + log_dist2)
        log_denom = torch.where(rho > 0.5, log_hi, log_lo)
        return (self.dim - 1) * (log_num - log_denom) - log_sphere_area(self.dim)

    @full_precision
    def kl_to_uniform(self) -> torch.Tensor:
        """KL(self ‖ uniform on S^{p-1}), shape batch_shape."""
        if "rho_logit" in self.__dict__:
            return kl_uniform(self.dim, rho_logit=self.rho_logit)
        return kl_uniform(self.dim, self.rho)

    @property
    @full_precision
    def mean_resultant_length(self) -> torch.Tensor:
        """m(ρ) = E[μᵀx] = ρ + (1-ρ²) g_p'(ρ)/2, shape batch_shape."""
        rho, rho_bar, _ = self._parts
        _, dg = log_moments(self.dim, rho, rho_bar)
        return rho + rho_bar * (1 + rho) * dg / 2

    @property
    @full_precision
    def variance(self) -> torch.Tensor:
        """Diagonal of Cov[x] = a μμᵀ + b (I - μμᵀ) (docs/math.md).

        b = E[1-(μᵀx)²]/(p-1) = (1-ρ²)² E_{p+2}[D⁻²]/p with D = 1+ρ²+2ρt, and a = Var(μᵀx):
        1 - (p-1)b - m² for ρ ≤ 0.1, and (1-ρ²)² Var((1-ρ²)/D)/(4ρ²) above, which does not
        cancel as ρ → 1. Lower precisions are evaluated in float64 where the device has it, as the
        ρ²-series alternate for large p.
        """
        rho, rho_bar, _ = self._parts
        dtype = rho.dtype
        if dtype != torch.float64 and rho.device.type != "mps":
            rho, rho_bar = rho.double(), rho_bar.double()
        p = self.dim
        one_m = rho_bar * (1 + rho)  # 1-ρ², multiplied in separately so it cannot underflow
        b = (one_m * inv_square_moment(p, rho, rho_bar)) * one_m / p
        _, dg = log_moments(p, rho, rho_bar)
        a_small = 1 - (p - 1) * b - (rho + one_m * dg / 2).square()
        a_large = mean_direction_variance(p, rho, rho_bar)
        a = torch.where(rho > 0.1, a_large, a_small).clamp_min(0)
        return rotational_variance(self.loc, a.to(dtype), b.to(dtype))
