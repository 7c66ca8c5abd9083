"""The spherical Cauchy distribution on S^{p-1} (Kato & McCullagh 2020; Sablica & Hornik 2025)."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, constraints
from torch.distributions.utils import lazy_property
from torch.types import _size

from ..special.mobius import mobius_sample
from ..special.spcauchy_kl import kl_uniform, rho_parts
from ..special.spcauchy_moments import inv_square_moment, log_moments
from .constraints import unit_sphere
from .uniform import log_sphere_area


class SphericalCauchy(Distribution):
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
        "rho_logit": constraints.real,
    }
    support = unit_sphere
    has_rsample = True

    def __init__(
        self,
        loc: torch.Tensor,
        rho: torch.Tensor | float | None = None,
        *,
        rho_logit: torch.Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if (rho is None) == (rho_logit is None):
            raise ValueError("SphericalCauchy: pass exactly one of rho or rho_logit")
        if not torch.is_tensor(loc) or loc.dim() < 1 or loc.shape[-1] < 2:
            raise ValueError("SphericalCauchy: loc must be a tensor of shape (..., p) with p ≥ 2")
        if not loc.is_floating_point():
            raise ValueError("SphericalCauchy: loc must be a floating-point tensor")
        name = "rho" if rho is not None else "rho_logit"
        conc = torch.as_tensor(rho if rho is not None else rho_logit, dtype=loc.dtype,
                               device=loc.device)
        try:
            batch_shape = torch.broadcast_shapes(loc.shape[:-1], conc.shape)
        except RuntimeError as err:
            raise ValueError(
                f"SphericalCauchy: loc batch shape {tuple(loc.shape[:-1])} and {name} shape "
                f"{tuple(conc.shape)} do not broadcast"
            ) from err
        p = loc.shape[-1]
        # expand only when needed: a no-op expand still adds an autograd node to every step
        self.loc = loc if loc.shape[:-1] == batch_shape else loc.expand(*batch_shape, p)
        self.__dict__[name] = conc if conc.shape == batch_shape else conc.expand(batch_shape)
        super().__init__(batch_shape, torch.Size([p]), validate_args=validate_args)

    @property
    def dim(self) -> int:
        """Ambient dimension p."""
        return self.event_shape[0]

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

    def expand(self, batch_shape: _size, _instance=None) -> SphericalCauchy:
        new = self._get_checked_instance(SphericalCauchy, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(*batch_shape, self.dim)
        name = "rho_logit" if "rho_logit" in self.__dict__ else "rho"
        new.__dict__[name] = self.__dict__[name].expand(batch_shape)
        super(SphericalCauchy, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        n = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        u = n / torch.linalg.vector_norm(n, dim=-1, keepdim=True)
        if "rho_logit" in self.__dict__:
            return mobius_sample(self.loc, u, rho_logit=self.rho_logit)
        return mobius_sample(self.loc, u, self.rho)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        rho, _, log_rho_bar = self._parts
        # 1+ρ²-2ρμᵀx = (1-ρ)² + ρ‖x-μ‖², summed in log space so it survives ρ → 1 in float32.
        dist2 = (value - self.loc).square().sum(-1)
        log_denom = torch.logaddexp(2 * log_rho_bar, torch.log(rho) + torch.log(dist2))
        log_num = log_rho_bar + torch.log1p(rho)
        return (self.dim - 1) * (log_num - log_denom) - log_sphere_area(self.dim)

    def kl_to_uniform(self) -> torch.Tensor:
        """KL(self ‖ uniform on S^{p-1}), shape batch_shape."""
        if "rho_logit" in self.__dict__:
            return kl_uniform(self.dim, rho_logit=self.rho_logit)
        return kl_uniform(self.dim, self.rho)

    def entropy(self) -> torch.Tensor:
        return log_sphere_area(self.dim) - self.kl_to_uniform()

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def mean_resultant_length(self) -> torch.Tensor:
        """m(ρ) = E[μᵀx] = ρ + (1-ρ²) g_p'(ρ)/2, shape batch_shape."""
        rho, rho_bar, _ = self._parts
        _, dg = log_moments(self.dim, rho, rho_bar)
        return rho + rho_bar * (1 + rho) * dg / 2

    @property
    def mean(self) -> torch.Tensor:
        return self.mean_resultant_length.unsqueeze(-1) * self.loc

    @property
    def variance(self) -> torch.Tensor:
        """Diagonal of Cov[x] = a μμᵀ + b (I - μμᵀ).

        b = E[1-(μᵀx)²]/(p-1) = (1-ρ²)² E_{p+2}[(1+ρ²+2ρt)⁻²]/p and a = 1 - (p-1)b - m².
        """
        rho, rho_bar, _ = self._parts
        p = self.dim
        one_m = rho_bar * (1 + rho)  # 1-ρ², multiplied in twice so float32 does not underflow
        b = (one_m * inv_square_moment(p, rho, rho_bar)) * one_m / p
        a = (1 - (p - 1) * b - self.mean_resultant_length.square()).clamp_min(0)
        mu2 = self.loc.square()
        return a.unsqueeze(-1) * mu2 + b.unsqueeze(-1) * (1 - mu2)
