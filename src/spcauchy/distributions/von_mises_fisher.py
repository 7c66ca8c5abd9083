"""The von Mises–Fisher distribution on S^{p-1}, with Bessel functions in torch and unbiased
reparameterized gradients for every p."""

from __future__ import annotations

import torch
from torch.distributions.utils import lazy_property
from torch.types import _size

from ..special.autograd import (
    TransformableFunction,
    check_forward_not_nested,
    no_derivative,
    save_for_both,
)
from ..special.bessel import BesselTerms
from ..special.precision import full_precision
from ..special.vmf import (
    kl_from_terms,
    log_f_scaled_from_terms,
    ratio_from_terms,
    variance_parts,
    vmf_terms,
)
from ..special.vmf_sampling import ds_dkappa, wood_sample
from .fit import fit_vmf
from .rotational import ConcentrationDistribution, place_around, rotational_variance
from .uniform import log_sphere_area

_NO_SHAPE = torch.Size()


class _ImplicitS(TransformableFunction):
    """Identity on samples s = 1 - μᵀx whose backward is the implicit gradient ds/dκ.

    d²s/dκ² is not implemented: differentiating ds/dκ raises instead of returning zero.
    """

    # torch operations only (ds_dkappa): vmap batches them directly
    generate_vmap_rule = True

    @staticmethod
    def forward(kappa, s, ratio_comp, dim):  # type: ignore[override]
        # a view, not s itself, so that it can be saved (autograd would add the same view)
        return s.view_as(s)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        kappa, _, ratio_comp, ctx.dim = inputs
        save_for_both(ctx, kappa, output, ratio_comp)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        kappa, s, ratio_comp = ctx.saved_tensors
        deriv = ds_dkappa(ctx.dim, kappa.detach(), s, ratio_comp)
        if torch.is_grad_enabled():  # recording a graph: make d(ds/dκ)/dκ raise, not vanish
            deriv = no_derivative(kappa, deriv, "ds/dκ of VonMisesFisher.rsample")
        return grad * deriv, None, None, None

    @staticmethod
    def jvp(ctx, kappa_t, *_):  # type: ignore[override]
        check_forward_not_nested("VonMisesFisher.rsample")
        if kappa_t is None:
            return None
        kappa, s, ratio_comp = ctx.saved_tensors
        deriv = ds_dkappa(ctx.dim, kappa.detach(), s, ratio_comp)
        # an enclosing transform may differentiate the tangent again: raise there, not vanish
        return kappa_t * no_derivative(kappa, deriv, "ds/dκ of VonMisesFisher.rsample")


class VonMisesFisher(ConcentrationDistribution):
    r"""von Mises–Fisher distribution vMF(μ, κ) on the unit sphere S^{p-1} of R^p.

    Density w.r.t. surface area: C_p(κ) exp(κ μᵀx), C_p(κ) = κ^{p/2-1} / ((2π)^{p/2} I_{p/2-1}(κ)).
    κ = 0 is the uniform distribution.

    ``rsample`` draws μᵀx with Wood's rejection sampler (exact; raises rather than return
    unaccepted proposals) and differentiates it by implicit reparameterization, so gradients
    w.r.t. κ are unbiased for every p; the direction around μ uses a Householder reflection.

    Args:
        loc: mean direction μ, unit vectors of shape (..., p).
        concentration: κ ≥ 0, shape (...), broadcast with loc[..., 0].
    """

    @classmethod
    def fit(cls, x: torch.Tensor, weights: torch.Tensor | None = None, *,
            init: tuple[torch.Tensor, torch.Tensor] | None = None) -> VonMisesFisher:
        """Maximum-likelihood fit to points x (..., n, p), n ≥ 2, with optional nonnegative
        weights (..., n); ``batch_shape`` is their broadcast leading dims. μ is the mean
        direction and κ solves A_p(κ) = R̄ (``distributions.fit.fit_vmf``; ``init``'s κ, if
        given, starts its Newton iteration)."""
        loc, kappa = fit_vmf(x, weights, init=init)
        return cls(loc, kappa)

    @lazy_property
    def _terms(self) -> BesselTerms:
        return vmf_terms(self.dim, self.concentration)

    @full_precision
    def rsample(self, sample_shape: _size = _NO_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)[:-1]
        kappa = self.concentration.expand(shape)
        s = wood_sample(self.dim, kappa)
        s = _ImplicitS.call(kappa, s, self._terms.ratio_comp.expand(shape), self.dim)
        return place_around(self.loc.expand(*shape, self.dim), s)

    @full_precision
    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # κμᵀx - log f = -κ‖x - μ‖²/2 - (log f - κ): no large cancelling terms at any κ
        log_f_scaled = log_f_scaled_from_terms(self.dim, self.concentration, self._terms)
        return (-self.concentration * 0.5 * (value - self.loc).square().sum(-1) - log_f_scaled
                - log_sphere_area(self.dim))

    @full_precision
    def kl_to_uniform(self) -> torch.Tensor:
        """KL(self ‖ uniform on S^{p-1}), shape batch_shape."""
        return kl_from_terms(self.dim, self.concentration, self._terms)

    @property
    @full_precision
    def mean_resultant_length(self) -> torch.Tensor:
        """A_p(κ) = E[μᵀx] = I_{p/2}(κ)/I_{p/2-1}(κ), shape batch_shape."""
        return ratio_from_terms(self.dim, self.concentration, self._terms)

    @property
    @full_precision
    def variance(self) -> torch.Tensor:
        """Diagonal of Cov[x]: Var μᵀx = A'(κ), E[1-(μᵀx)²] = (p-1)A/κ (→ (p-1)/p at κ = 0)."""
        var_axis, transverse = variance_parts(self.dim, self.concentration)
        return rotational_variance(self.loc, var_axis, transverse)
