"""The Power Spherical distribution on S^{p-1} (De Cao & Aziz 2020), stable in float32."""

from __future__ import annotations

import torch
from torch.types import _size

from ..special.power_spherical_terms import ps_beta, ps_kl_uniform, ps_log_normalizer
from ..special.precision import full_precision
from .fit import fit_power
from .rotational import ConcentrationDistribution, place_around, rotational_variance

_NO_SHAPE = torch.Size()


class PowerSpherical(ConcentrationDistribution):
    r"""Power Spherical distribution PS(μ, κ) on the unit sphere S^{p-1} of R^p.

    Density w.r.t. surface area: C(κ) (1 + μᵀx)^κ; (1 + μᵀx)/2 ~ Beta(β + κ, β), β = (p-1)/2.
    κ = 0 is the uniform distribution.

    ``rsample`` is exact: s = 1 - μᵀx = 2G_β/(G_{β+κ} + G_β) from two standard gamma draws
    (reparameterized through torch's gamma gradients), then a Householder reflection around μ.

    Args:
        loc: mean direction μ, unit vectors of shape (..., p).
        concentration: κ ≥ 0, shape (...), broadcast with loc[..., 0].
    """

    @classmethod
    def fit(cls, x: torch.Tensor, weights: torch.Tensor | None = None, *,
            init: tuple[torch.Tensor, torch.Tensor] | None = None, max_iter: int = 100,
            tol: float | None = None) -> PowerSpherical:
        """Maximum-likelihood fit to points x (..., n, p), n ≥ 2, with optional nonnegative
        weights (..., n); ``batch_shape`` is their broadcast leading dims. μ maximizes
        Σ w log(1 + μᵀx) (not the mean direction in general), then κ solves a concave 1-D score
        equation (``distributions.fit.fit_power``; ``init`` = (loc, κ) warm-starts both)."""
        loc, kappa = fit_power(x, weights, init=init, max_iter=max_iter, tol=tol)
        return cls(loc, kappa)

    @full_precision
    def rsample(self, sample_shape: _size = _NO_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)[:-1]
        beta = ps_beta(self.dim)
        b = torch.full(shape, beta, dtype=self.loc.dtype, device=self.loc.device)
        g_a = torch._standard_gamma(self.concentration.expand(shape) + beta)
        g_b = torch._standard_gamma(b)
        s = 2 * g_b / (g_a + g_b)
        return place_around(self.loc.expand(*shape, self.dim), s)

    @full_precision
    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # log density = log(mode density) + κ log((1 + μᵀx)/2), and on the sphere
        # (1 + μᵀx)/2 = 1 - ‖x - μ‖²/4 = ‖x + μ‖²/4: log1p of the first near the mode, the log of
        # the second near the antipode, where 1 - ‖x - μ‖²/4 would cancel (and go negative, hence
        # NaN, once ‖μ‖² rounds above 1). Each branch gets clamped input so that neither produces
        # NaN gradients where it is not selected; at x = -μ exactly the value is κ log 0 (-inf,
        # or 0 at κ = 0) with a zero loc-gradient, as ‖x + μ‖² has a stationary point there.
        d2 = (value - self.loc).square().sum(-1)
        e2 = (value + self.loc).square().sum(-1)
        kappa = self.concentration
        near = kappa * torch.log1p(-d2.clamp_max(2) / 4)
        positive = e2 > 0
        far = torch.where(positive, torch.xlogy(kappa, torch.where(positive, e2, 4.0) / 4),
                          torch.xlogy(kappa, torch.zeros_like(e2)))
        log_mode = ps_log_normalizer(self.dim, kappa, at_mode=True)
        return log_mode + torch.where(d2 < 2, near, far)

    @full_precision
    def kl_to_uniform(self) -> torch.Tensor:
        """KL(self ‖ uniform on S^{p-1}), shape batch_shape."""
        return ps_kl_uniform(self.dim, self.concentration)

    @property
    @full_precision
    def mean_resultant_length(self) -> torch.Tensor:
        """E[μᵀx] = κ/(κ + p - 1), shape batch_shape."""
        return self.concentration / (self.concentration + self.dim - 1)

    @property
    @full_precision
    def variance(self) -> torch.Tensor:
        """Diagonal of Cov[x]: with z = (1+μᵀx)/2 ~ Beta(α, β), n = α + β,
        Var μᵀx = 4αβ/(n²(n+1)) and E[1-(μᵀx)²] = 4E[z(1-z)] = 4αβ/(n(n+1))."""
        beta = ps_beta(self.dim)
        alpha = self.concentration + beta
        n = alpha + beta
        transverse = 4 * alpha * beta / (n * (n + 1))
        return rotational_variance(self.loc, transverse / n, transverse / (self.dim - 1))
