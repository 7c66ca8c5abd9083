"""A value whose derivative is already known, as one cheap autograd node.

Special functions compute a value and its derivative together far more cheaply than autograd would
differentiate through their evaluation. The derivative is attached as a detached tensor; higher
derivatives come from a function that rebuilds the derivative as a differentiable tensor, called
only when a backward pass records its own graph (``create_graph=True``, ``hessian``). Where no
such function is given, differentiating the derivative raises: a second derivative is either
correct or an error, never a silent zero.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Derivative = Callable[[Tensor], Tensor]


class _KnownDerivative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, value: Tensor, deriv: Tensor, higher: Derivative | None,  # type: ignore[override]
                name: str) -> Tensor:
        ctx.save_for_backward(x, deriv)
        ctx.higher, ctx.name = higher, name
        return value

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None, None]:  # type: ignore[override]
        x, deriv = ctx.saved_tensors
        # Grad mode is on inside a backward pass exactly when it records a graph: only then must
        # the derivative be a differentiable function of x.
        if torch.is_grad_enabled():
            deriv = ctx.higher(x) if ctx.higher is not None else no_derivative(
                x, deriv, f"the derivative of {ctx.name}")
        return grad * deriv, None, None, None, None


class _NoDerivative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, value: Tensor, name: str) -> Tensor:  # type: ignore[override]
        ctx.name = name
        return value

    @staticmethod
    def backward(ctx, grad: Tensor) -> None:  # type: ignore[override]
        raise RuntimeError(f"{ctx.name} cannot be differentiated: this higher-order derivative is "
                           "not implemented (requested by create_graph=True, a Hessian or a "
                           "double backward)")


def no_derivative(x: Tensor, value: Tensor, name: str) -> Tensor:
    """``value`` attached to the graph of ``x`` by a node that raises when differentiated (a
    derivative that is not implemented, instead of a silent zero)."""
    return _NoDerivative.apply(x, value.detach(), name)


def with_derivative(x: Tensor, value: Tensor, deriv: Tensor, higher: Derivative | None = None, *,
                    name: str = "special function") -> Tensor:
    """``value`` (computed without grad) attached to the graph of ``x`` with d value/dx = ``deriv``.

    Elementwise: x, value and deriv share one shape (or broadcast to x's). ``higher(x)`` returns
    the derivative again, now differentiable in x (typically another ``with_derivative``); without
    it, second derivatives raise a RuntimeError naming ``name``.
    """
    return _KnownDerivative.apply(x, value.detach(), deriv.detach(), higher, name)
