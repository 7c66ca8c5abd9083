"""Products of spheres: z = (z_1, …, z_m) ∈ S^{p-1} × … × S^{p-1}, each factor with its own mean
direction and concentration, flattened to vectors of length m·p.

Davidson et al. ("Increasing Expressivity of a Hyperspherical VAE", 2019) showed that one
concentration for a whole high-dimensional sphere is what makes hyperspherical VAEs fall behind
Gaussian ones as d grows; a product of small spheres has one concentration per factor.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence
from torch.distributions.kl import register_kl
from torch.types import _size

from .constraints import sphere_product


class SphereProduct(Distribution):
    """Independent factors of ``base`` (batch shape (..., m), event shape (p,)) as one
    distribution with batch shape (...) and event shape (m·p,): samples, ``mean``, ``mode`` and
    ``variance`` are the factors' concatenated, ``log_prob`` and ``entropy`` their sums, and
    the KL between two products (e.g. to the product of uniform priors) the sum of the factors'.
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, base: Distribution, validate_args: bool | None = None):
        if len(base.batch_shape) < 1 or len(base.event_shape) != 1:
            raise ValueError("SphereProduct: base needs a factor axis (batch shape (..., m)) and "
                             f"vector events, got batch {tuple(base.batch_shape)}, event "
                             f"{tuple(base.event_shape)}")
        self.base = base
        self.factors, self.factor_dim = base.batch_shape[-1], base.event_shape[0]
        super().__init__(base.batch_shape[:-1], torch.Size([self.factors * self.factor_dim]),
                         validate_args=validate_args)

    @property
    def support(self):
        return sphere_product(self.factor_dim)

    def split(self, value: Tensor) -> Tensor:
        """(..., m·p) → (..., m, p): the factors of a point."""
        return value.unflatten(-1, (self.factors, self.factor_dim))

    def expand(self, batch_shape: _size, _instance=None) -> SphereProduct:
        base = self.base.expand(torch.Size((*batch_shape, self.factors)))
        return SphereProduct(base, validate_args=False)

    def rsample(self, sample_shape: _size = torch.Size()) -> Tensor:
        return self.base.rsample(sample_shape).flatten(-2)

    def sample(self, sample_shape: _size = torch.Size()) -> Tensor:
        return self.base.sample(sample_shape).flatten(-2)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self.base.log_prob(self.split(value)).sum(-1)

    def entropy(self) -> Tensor:
        return self.base.entropy().sum(-1)

    @property
    def loc(self) -> Tensor:
        """The factors' mean directions, concatenated: (..., m·p)."""
        return self.base.loc.flatten(-2)

    @property
    def mean(self) -> Tensor:
        return self.base.mean.flatten(-2)

    @property
    def mode(self) -> Tensor:
        return self.base.mode.flatten(-2)

    @property
    def variance(self) -> Tensor:
        return self.base.variance.flatten(-2)


@register_kl(SphereProduct, SphereProduct)
def _kl_product(p: SphereProduct, q: SphereProduct) -> Tensor:
    if (p.factors, p.factor_dim) != (q.factors, q.factor_dim):
        raise ValueError(f"KL between products of different spheres: {p.factors} × S^"
                         f"{p.factor_dim - 1} and {q.factors} × S^{q.factor_dim - 1}")
    return kl_divergence(p.base, q.base).sum(-1)
