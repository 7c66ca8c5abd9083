"""Products of spheres, z = (z_1, …, z_m) ∈ S^{p-1} × … × S^{p-1}, each factor with its own mean
direction and concentration, flattened to vectors of length m·p (``SphereProduct``); and mixed
latents, independent parts of different kinds concatenated (``Concatenated``, e.g. S^k × R^n).

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


class Concatenated(Distribution):
    """Independent parts with vector events (e.g. a sphere and a Gaussian), z = (z_1, …, z_n)
    concatenated along the last axis: ``log_prob`` / ``entropy`` are sums over the parts, the
    KL between two concatenations with the same part sizes the sum of the parts' KLs."""

    arg_constraints: dict = {}
    support = torch.distributions.constraints.real_vector  # the parts check their own supports
    has_rsample = True

    def __init__(self, parts: list[Distribution], validate_args: bool | None = None):
        if not parts or any(len(q.event_shape) != 1 for q in parts):
            raise ValueError("Concatenated: give one or more parts with vector events")
        batch = torch.broadcast_shapes(*(q.batch_shape for q in parts))
        self.parts = [q.expand(batch) if q.batch_shape != batch else q for q in parts]
        self.sizes = [q.event_shape[0] for q in parts]
        super().__init__(batch, torch.Size([sum(self.sizes)]), validate_args=validate_args)

    def split(self, value: Tensor) -> tuple[Tensor, ...]:
        return value.split(self.sizes, dim=-1)

    def expand(self, batch_shape: _size, _instance=None) -> Concatenated:
        return Concatenated([q.expand(batch_shape) for q in self.parts], validate_args=False)

    def rsample(self, sample_shape: _size = torch.Size()) -> Tensor:
        return torch.cat([q.rsample(sample_shape) for q in self.parts], -1)

    def sample(self, sample_shape: _size = torch.Size()) -> Tensor:
        return torch.cat([q.sample(sample_shape) for q in self.parts], -1)

    def log_prob(self, value: Tensor) -> Tensor:
        return sum(q.log_prob(v) for q, v in zip(self.parts, self.split(value), strict=True))

    def entropy(self) -> Tensor:
        return sum(q.entropy() for q in self.parts)

    @property
    def mean(self) -> Tensor:
        return torch.cat([q.mean for q in self.parts], -1)

    @property
    def mode(self) -> Tensor:
        return torch.cat([q.mode for q in self.parts], -1)

    @property
    def variance(self) -> Tensor:
        return torch.cat([q.variance.expand(q.batch_shape + q.event_shape) for q in self.parts],
                         -1)


@register_kl(Concatenated, Concatenated)
def _kl_concatenated(p: Concatenated, q: Concatenated) -> Tensor:
    if p.sizes != q.sizes:
        raise ValueError(f"KL between concatenations of different parts: {p.sizes}, {q.sizes}")
    return sum(kl_divergence(a, b) for a, b in zip(p.parts, q.parts, strict=True))
