"""Shared pieces of the rotationally symmetric baselines (vMF, Power Spherical) on S^{p-1}.

Both are determined by the law of s = 1 - μᵀx ∈ [0, 2]; given s, x is uniform on the circle of
directions with μᵀx = 1 - s.
"""

from __future__ import annotations

import torch
from torch import Tensor


def broadcast_params(name: str, loc: Tensor, concentration: Tensor | float
                     ) -> tuple[Tensor, Tensor, torch.Size]:
    """Validate ``loc`` (..., p) and broadcast it with ``concentration`` (...)."""
    if not torch.is_tensor(loc) or loc.dim() < 1 or loc.shape[-1] < 2:
        raise ValueError(f"{name}: loc must be a tensor of shape (..., p) with p ≥ 2")
    if not loc.is_floating_point():
        raise ValueError(f"{name}: loc must be a floating-point tensor")
    conc = torch.as_tensor(concentration, dtype=loc.dtype, device=loc.device)
    try:
        batch_shape = torch.broadcast_shapes(loc.shape[:-1], conc.shape)
    except RuntimeError as err:
        raise ValueError(
            f"{name}: loc batch shape {tuple(loc.shape[:-1])} and concentration shape "
            f"{tuple(conc.shape)} do not broadcast"
        ) from err
    return loc.expand(*batch_shape, loc.shape[-1]), conc.expand(batch_shape), batch_shape


def place_around(loc: Tensor, s: Tensor) -> Tensor:
    """x with μᵀx = 1 - s and uniform direction around μ = ``loc``; differentiable in both.

    y = (-σ(1-s), √(s(2-s)) v) with v uniform on S^{p-2} is reflected by the Householder map
    H = I - 2uuᵀ/‖u‖², u = e₁ + σμ, σ = sign(μ₁) ∈ {±1}, which sends e₁ to -σμ;
    ‖u‖² = 2(1 + σμ₁) ≥ 2, so the reflection never divides by a small number.
    Shapes: loc (..., p), s (...) -> (..., p).
    """
    p = loc.shape[-1]
    n = torch.randn((*s.shape, p - 1), dtype=loc.dtype, device=loc.device)
    v = n / torch.linalg.vector_norm(n, dim=-1, keepdim=True)
    sigma = torch.where(loc[..., :1] >= 0, 1.0, -1.0).to(loc.dtype)
    y = torch.cat([-sigma * (1 - s).unsqueeze(-1), torch.sqrt(s * (2 - s)).unsqueeze(-1) * v], -1)
    u = sigma * loc
    u = torch.cat([u[..., :1] + 1, u[..., 1:]], -1)
    coef = 2 * (u * y).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True)
    return y - coef * u


def axial_variance(loc: Tensor, var_axis: Tensor, var_transverse: Tensor) -> Tensor:
    """Diagonal of Cov[x] = a μμᵀ + b(I - μμᵀ) with a = Var μᵀx, b = E[1-(μᵀx)²]/(p-1)."""
    mu2 = loc.square()
    return var_axis.unsqueeze(-1) * mu2 + var_transverse.unsqueeze(-1) * (1 - mu2)
