"""The uniform distribution on the sphere S^{p-1} ⊂ R^p."""

from __future__ import annotations

import math

import torch
from torch.distributions import Distribution
from torch.types import _size

from ..special.checks import check_dim
from ..special.random import standard_normal
from .constraints import unit_sphere


def log_sphere_area(dim: int) -> float:
    """log |S^{p-1}| = log 2 + (p/2) log π - lgamma(p/2), p = ``dim``."""
    return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)


class HypersphericalUniform(Distribution):
    """Uniform distribution on the unit sphere S^{p-1} of R^p.

    Args:
        dim: ambient dimension p ≥ 2 (the vector length; the sphere has dimension p - 1).
        batch_shape: optional batch shape (the distribution is the same in every batch entry).
        dtype, device: of samples and log-densities.

    ``log_prob`` is w.r.t. the surface-area measure: -log |S^{p-1}| everywhere on the sphere.
    """

    arg_constraints: dict = {}
    support = unit_sphere
    has_rsample = True

    def __init__(
        self,
        dim: int,
        batch_shape: _size = torch.Size(),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        validate_args: bool | None = None,
    ) -> None:
        check_dim(dim)
        self.dim = dim
        self.dtype = dtype or torch.get_default_dtype()
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        super().__init__(torch.Size(batch_shape), torch.Size([dim]), validate_args=validate_args)

    def expand(self, batch_shape: _size, _instance=None) -> HypersphericalUniform:
        new = self._get_checked_instance(HypersphericalUniform, _instance)
        new.dim, new.dtype, new.device = self.dim, self.dtype, self.device
        super(HypersphericalUniform, new).__init__(
            torch.Size(batch_shape), self.event_shape, validate_args=False
        )
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        n = standard_normal(self._extended_shape(sample_shape), self.dtype, self.device)
        return n / torch.linalg.vector_norm(n, dim=-1, keepdim=True)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape)
        return torch.full(shape, -log_sphere_area(self.dim), dtype=value.dtype, device=value.device)

    def entropy(self) -> torch.Tensor:
        return torch.full(
            self.batch_shape, log_sphere_area(self.dim), dtype=self.dtype, device=self.device
        )

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(self._extended_shape(), dtype=self.dtype, device=self.device)

    @property
    def variance(self) -> torch.Tensor:
        return torch.full(self._extended_shape(), 1.0 / self.dim, dtype=self.dtype,
                          device=self.device)
