"""A value whose derivative is already known, as one cheap autograd node."""

from __future__ import annotations

import torch
from torch import Tensor


class _KnownDerivative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, value: Tensor, deriv: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(deriv)
        return value

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (deriv,) = ctx.saved_tensors
        return grad * deriv, None, None


def with_derivative(x: Tensor, value: Tensor, deriv: Tensor) -> Tensor:
    """``value`` (computed without grad) attached to the graph of ``x`` with d value/dx = ``deriv``.

    Elementwise: x, value and deriv share one shape. Special functions compute value and derivative
    together far more cheaply than autograd would differentiate through their evaluation.
    """
    return _KnownDerivative.apply(x, value.detach(), deriv.detach())
