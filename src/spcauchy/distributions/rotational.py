"""Shared pieces of the rotationally symmetric distributions (spCauchy, vMF, Power Spherical).

Each is determined by the law of s = 1 - μᵀx ∈ [0, 2]; given s, x is uniform on the circle of
directions with μᵀx = 1 - s.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.types import _size

from ..special.precision import LOW_PRECISION, full_precision, promote
from ..special.random import standard_normal
from .constraints import LOW_PRECISION_SPHERE_TOL, finite_nonnegative, unit_sphere
from .uniform import log_sphere_area


class RotationallySymmetric(Distribution):
    """Base of the distributions on S^{p-1} that are rotationally symmetric about ``loc``.

    Subclasses set ``loc`` and their concentration parameter(s) (named in ``_params``, stored in
    ``__dict__``) and implement ``kl_to_uniform`` and ``mean_resultant_length``.
    """

    support = unit_sphere
    has_rsample = True
    _params: ClassVar[tuple[str, ...]] = ()

    @property
    def dim(self) -> int:
        """Ambient dimension p."""
        return self.event_shape[0]

    def expand(self, batch_shape: _size, _instance=None) -> RotationallySymmetric:
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(*batch_shape, self.dim)
        for name in self._params:
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(batch_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def kl_to_uniform(self) -> Tensor:
        """KL(self ‖ uniform on S^{p-1}), shape batch_shape."""
        raise NotImplementedError

    @property
    def mean_resultant_length(self) -> Tensor:
        """E[μᵀx], shape batch_shape."""
        raise NotImplementedError

    @full_precision
    def entropy(self) -> Tensor:
        return log_sphere_area(self.dim) - self.kl_to_uniform()

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    @full_precision
    def mean(self) -> Tensor:
        return self.mean_resultant_length.unsqueeze(-1) * self.loc


class ConcentrationDistribution(RotationallySymmetric):
    """A rotationally symmetric family with parameters ``loc`` (unit vectors, (..., p)) and
    ``concentration`` (finite κ ≥ 0, shape (...) broadcast with loc[..., 0]); κ = 0 is the
    uniform distribution."""

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "loc": unit_sphere,
        "concentration": finite_nonnegative,
    }
    _params = ("concentration",)

    def __init__(self, loc: Tensor, concentration: Tensor | float, *,
                 validate_args: bool | None = None) -> None:
        self.loc, self.concentration, batch_shape = broadcast_params(
            type(self).__name__, loc, concentration)
        super().__init__(batch_shape, torch.Size([loc.shape[-1]]), validate_args=validate_args)


def broadcast_params(name: str, loc: Tensor, concentration: Tensor | float,
                     conc_name: str = "concentration") -> tuple[Tensor, Tensor, torch.Size]:
    """Validate ``loc`` (..., p) and broadcast it with ``concentration`` (...).

    Float16/bfloat16 parameters are promoted to float32 (special.precision), and a loc that was
    a unit vector in its own precision is renormalized in float32, so that the float32
    formulas see a unit vector.
    """
    if not torch.is_tensor(loc) or loc.dim() < 1 or loc.shape[-1] < 2:
        raise ValueError(f"{name}: loc must be a tensor of shape (..., p) with p ≥ 2")
    if not loc.is_floating_point():
        raise ValueError(f"{name}: loc must be a floating-point tensor")
    if loc.dtype in LOW_PRECISION:
        loc = promote(loc)
        norm = torch.linalg.vector_norm(loc, dim=-1, keepdim=True)
        # off the sphere even in low precision: left as it is for validation to report
        loc = loc / torch.where((norm - 1).abs() <= LOW_PRECISION_SPHERE_TOL, norm, 1.0)
    conc = torch.as_tensor(promote(concentration), dtype=loc.dtype, device=loc.device)
    try:
        batch_shape = torch.broadcast_shapes(loc.shape[:-1], conc.shape)
    except RuntimeError as err:
        raise ValueError(
            f"{name}: loc batch shape {tuple(loc.shape[:-1])} and {conc_name} shape "
            f"{tuple(conc.shape)} do not broadcast"
        ) from err
    # expand only when needed: a no-op expand still adds an autograd node to every step
    if loc.shape[:-1] != batch_shape:
        loc = loc.expand(*batch_shape, loc.shape[-1])
    return loc, conc if conc.shape == batch_shape else conc.expand(batch_shape), batch_shape


def place_around(loc: Tensor, s: Tensor) -> Tensor:
    """x with μᵀx = 1 - s and uniform direction around μ = ``loc``; differentiable in both.

    y = (-σ(1-s), √(s(2-s)) v) with v uniform on S^{p-2} is reflected by the Householder map
    H = I - 2uuᵀ/‖u‖², u = e₁ + σμ, σ = sign(μ₁) ∈ {±1}, which sends e₁ to -σμ;
    ‖u‖² = 2(1 + σμ₁) ≥ 2, so the reflection never divides by a small number.
    Shapes: loc (..., p), s (...) -> (..., p).
    """
    p = loc.shape[-1]
    n = standard_normal((*s.shape, p - 1), loc.dtype, loc.device)
    v = n / torch.linalg.vector_norm(n, dim=-1, keepdim=True)
    sigma = torch.where(loc[..., :1] >= 0, 1.0, -1.0).to(loc.dtype)
    # A draw can round to a pole (s = 2 in float32: 1 in 10⁸ vMF draws on S^2 at κ = 1, seed 0),
    # where √(s(2-s)) has an infinite slope while ds/dθ → 0, so the chain rule gives ∞·0 = NaN.
    # The clamp makes the slope 0 there: the limit of the product, which vanishes like √(2-s).
    radius = torch.sqrt((s * (2 - s)).clamp_min(torch.finfo(s.dtype).tiny))
    y = torch.cat([-sigma * (1 - s).unsqueeze(-1), radius.unsqueeze(-1) * v], -1)
    u = sigma * loc
    u = torch.cat([u[..., :1] + 1, u[..., 1:]], -1)
    coef = 2 * (u * y).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True)
    return y - coef * u


def log_sq_distance(diff: Tensor) -> Tensor:
    """log ‖d‖² over the last axis of ``diff`` = d, and -inf (with zero gradient) where d = 0.

    Evaluated as 2 log m + log ‖d/m‖² with m = max|dᵢ| (a constant for autograd), so neither the
    value nor the gradient 2d/‖d‖² passes through ‖d‖², which underflows float32 below 1e-38
    (‖d‖ ≈ 1 - ρ ≈ e^-44 for high-concentration spCauchy samples) where 2d/‖d‖² is still finite.
    """
    m = diff.detach().abs().amax(-1, keepdim=True)
    positive = m > 0
    m = torch.where(positive, m, 1.0)
    # ‖d/m‖² ∈ [1, p] where d ≠ 0; the clamp keeps the discarded d = 0 branch's gradient finite
    log_scaled = torch.log((diff / m).square().sum(-1).clamp_min(1.0))
    return torch.where(positive.squeeze(-1), 2 * torch.log(m.squeeze(-1)) + log_scaled, -torch.inf)


def rotational_variance(loc: Tensor, var_axis: Tensor, var_transverse: Tensor) -> Tensor:
    """Diagonal of Cov[x] = a μμᵀ + b(I - μμᵀ) with a = Var μᵀx, b = E[1-(μᵀx)²]/(p-1)."""
    mu2 = loc.square()
    return var_axis.unsqueeze(-1) * mu2 + var_transverse.unsqueeze(-1) * (1 - mu2)
