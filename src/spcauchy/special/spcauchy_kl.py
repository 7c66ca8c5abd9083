"""KL(spCauchy(μ, ρ) ‖ uniform on S^{p-1}) as one differentiable operation.

    KL(ρ) = (p-1) [g_p(ρ) - log(1-ρ)  - log(1+ρ)]
    dKL/dρ = (p-1) [g_p'(ρ) + 2ρ/(1-ρ²)],    dKL/dη = dKL/dρ · ρ(1-ρ) for ρ = sigmoid(η).

The value and its derivative are computed together under no_grad and the backward pass is one
multiply: at VAE batch sizes the cost is the number of tensor operations, not arithmetic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .spcauchy_moments import log_moments


def rho_parts(rho: Tensor | None, rho_logit: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """(ρ, 1-ρ, log(1-ρ)) from exactly one of ρ or its logit, without cancellation."""
    if (rho is None) == (rho_logit is None):
        raise ValueError("pass exactly one of rho or rho_logit")
    if rho_logit is not None:
        # logsigmoid, not -softplus: softplus is linear above its threshold (20), off by e^-20.
        return torch.sigmoid(rho_logit), torch.sigmoid(-rho_logit), F.logsigmoid(-rho_logit)
    # 1 - ρ is exact for ρ ≥ 1/2 (Sterbenz) and well conditioned below.
    return rho, 1 - rho, torch.log1p(-rho)


def log1m_square(rho: Tensor, log_rho_bar: Tensor) -> Tensor:
    """log(1-ρ²): log1p(-ρ²) for small ρ (no cancellation), log(1-ρ) + log1p(ρ) near 1."""
    return torch.where(rho < 0.5, torch.log1p(-rho * rho), log_rho_bar + torch.log1p(rho))


class _KLUniform(torch.autograd.Function):
    @staticmethod
    def forward(ctx, param: Tensor, dim: int, is_logit: bool) -> Tensor:  # type: ignore[override]
        rho, rho_bar, log_rho_bar = rho_parts(None, param) if is_logit else rho_parts(param, None)
        g, dg = log_moments(dim, rho, rho_bar)
        kl = (dim - 1) * (g - log1m_square(rho, log_rho_bar))
        if is_logit:
            dkl = (dim - 1) * (dg * rho * rho_bar + 2 * rho * rho / (1 + rho))
        else:
            dkl = (dim - 1) * (dg + 2 * rho / (rho_bar * (1 + rho)))
        ctx.save_for_backward(dkl)
        return kl

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (dkl,) = ctx.saved_tensors
        return grad * dkl, None, None


def kl_uniform(dim: int, rho: Tensor | None = None, *, rho_logit: Tensor | None = None) -> Tensor:
    """KL(spCauchy(μ, ρ) ‖ Uniform(S^{dim-1})) for each batch element; independent of μ.

    Args:
        dim: ambient dimension p ≥ 2.
        rho: concentration in [0, 1), shape (...); or
        rho_logit: its logit (any real), shape (...). Use this near ρ = 1: 1 - ρ is then never
            formed by subtraction, so float32 stays exact up to |rho_logit| ≈ 88.

    Returns:
        Tensor of shape (...), differentiable w.r.t. the given parameter, relative error at the
        level of the dtype's epsilon (see tests/test_kl_reference.py).
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an integer ≥ 2 (the ambient dimension), got {dim!r}")
    if (rho is None) == (rho_logit is None):
        raise ValueError("pass exactly one of rho or rho_logit")
    param = rho_logit if rho_logit is not None else rho
    if not torch.is_tensor(param) or not param.is_floating_point():
        name = "rho_logit" if rho_logit is not None else "rho"
        raise ValueError(f"{name} must be a floating-point tensor")
    return _KLUniform.apply(param, dim, rho_logit is not None)
