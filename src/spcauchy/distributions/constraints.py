"""Constraints shared by the hyperspherical distributions."""

from __future__ import annotations

import math

import torch
from torch.distributions import constraints

LOW_PRECISION_SPHERE_TOL = 0.02


def sphere_tolerance(dtype: torch.dtype) -> float:
    """Largest |‖x‖ - 1| of a unit vector stored in ``dtype`` (see _UnitSphere)."""
    return min(1e3 * torch.finfo(dtype).eps, LOW_PRECISION_SPHERE_TOL)


class _UnitSphere(constraints.Constraint):
    """Vectors on S^{p-1} (last axis), up to a tolerance tied to the dtype's machine epsilon.

    The tolerance 1e3·eps (≈1.2e-4 in float32, 2.2e-13 in float64) accepts any vector that was
    normalized in that precision, at any dimension up to 10⁴, and rejects everything else. In
    float16/bfloat16, where 1e3·eps is about 1 or more, it is 0.02: normalization there is off by
    at most a few 2⁻⁸ (half a bfloat16 ulp at 1 per coordinate, and the rounding of the norm).
    """

    is_discrete = False
    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        if value.dim() < 1 or value.shape[-1] < 2:
            return torch.zeros(value.shape[:-1] if value.dim() else (), dtype=torch.bool)
        tol = sphere_tolerance(value.dtype)
        on_sphere = (torch.linalg.vector_norm(value, dim=-1) - 1).abs() <= tol
        return on_sphere & value.isfinite().all(-1)


unit_sphere = _UnitSphere()


class _FiniteNonnegative(constraints.Constraint):
    """0 ≤ x < ∞ (torch's ``nonnegative`` admits +inf, a concentration with no distribution)."""

    is_discrete = False
    event_dim = 0

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return (value >= 0) & (value < math.inf)


finite_nonnegative = _FiniteNonnegative()


class _SphereProduct(constraints.Constraint):
    """Vectors (..., m·p) whose m consecutive blocks of length p are unit vectors."""

    event_dim = 1

    def __init__(self, p: int):
        self.p = p
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        if value.shape[-1] % self.p:
            return torch.zeros(value.shape[:-1], dtype=torch.bool, device=value.device)
        return unit_sphere.check(value.unflatten(-1, (-1, self.p))).all(-1)


sphere_product = _SphereProduct
