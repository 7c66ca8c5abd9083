"""A value whose derivative is already known, as one cheap autograd node.

Special functions compute a value and its derivative together far more cheaply than autograd would
differentiate through their evaluation. The derivative is attached as a detached tensor; higher
derivatives come from a function that rebuilds the derivative as a differentiable tensor, called
only when a backward pass records its own graph (``create_graph=True``, ``hessian``, every
``torch.func.grad``) and in forward mode (``torch.func.jvp``, ``jacfwd``). Where no such function is
given, differentiating the derivative raises: a second derivative is either correct or an error,
never a silent zero. Both nodes work under ``torch.func`` transforms, vmap included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor
from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters
from torch.autograd import forward_ad

from .precision import full_precision

Derivative = Callable[[Tensor], Tensor]


class TransformableFunction(torch.autograd.Function):
    """Base of the library's autograd.Functions, written in the torch.func style (``forward``
    without ctx, ``setup_context``) so that torch.func transforms accept them.

    ``forward`` returns its results followed by ``saved_outputs`` intermediates that are outputs
    only so that ``setup_context`` can save them (the torch.func way of saving intermediates);
    this class marks them non-differentiable. Callers use ``call``, not ``apply``: it returns the
    results alone (one tensor for one result) and, outside transforms, runs an equivalent
    Function in the older style built from the same methods, which saves the intermediates
    without making them outputs (each extra output costs about 0.6 µs) and skips the binding of
    the arguments to ``forward``'s signature that ``Function.apply`` does for setup_context
    (about 12 µs a call, more than the whole KL node takes at VAE batch sizes). ``apply`` itself
    stays as torch.func expects it. While torch.compile traces, ``call`` uses a third twin
    without the jvp rule, as dynamo refuses Functions that define one.
    """

    saved_outputs: ClassVar[int] = 0

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "forward" not in cls.__dict__:
            return
        # a backward pass run under autocast must not run the formulas in half precision
        cls.backward = staticmethod(full_precision(cls.backward))  # type: ignore[method-assign]
        n = cls.saved_outputs
        eager, compiled = _eager_twin(cls, True), _eager_twin(cls, False)

        # a closure per class, so that dynamo sees the twins as classes, not as attributes
        def call(*args):
            if torch.compiler.is_compiling():  # dynamo refuses Functions with a custom jvp
                return compiled.apply(*args)
            if torch._C._are_functorch_transforms_active():
                return _results(cls.apply(*args), n)
            return eager.apply(*args)

        cls.call = staticmethod(call)  # type: ignore[method-assign]
        if n:
            setup = cls.setup_context

            def setup_context(ctx, inputs, output) -> None:
                ctx.mark_non_differentiable(*output[-n:])
                setup(ctx, inputs, output)

            cls.setup_context = staticmethod(setup_context)  # type: ignore[method-assign]

    @classmethod
    def call(cls, *args):
        """``apply`` for positional arguments, returning the results without the intermediates
        (defined for each subclass by ``__init_subclass__``)."""
        raise NotImplementedError


def save_for_both(ctx, *tensors: Tensor) -> None:
    """``ctx.save_for_backward(*tensors)`` and, where forward-mode AD can run (inside a dual level
    or a torch.func transform), ``ctx.save_for_forward`` of the same tensors (the same, so that
    under vmap one record of their batch dims serves both). save_for_forward costs about 3 µs a
    call, which the VAE's training step would pay for nothing."""
    ctx.save_for_backward(*tensors)
    if forward_ad._current_level >= 0 or torch._C._are_functorch_transforms_active():
        ctx.save_for_forward(*tensors)


def _results(output, saved_outputs: int):
    """The results among ``forward``'s outputs: all but the trailing saved intermediates."""
    if not saved_outputs:
        return output
    output = output[:-saved_outputs]
    return output[0] if len(output) == 1 else output


def _eager_twin(cls: type[TransformableFunction], with_jvp: bool) -> type[torch.autograd.Function]:
    """The old-style Function of ``cls``'s methods (with its jvp rule, or without, for dynamo)."""
    fwd, setup, jvp_rule, n = cls.forward, cls.setup_context, cls.jvp, cls.saved_outputs

    def forward(ctx, *args):
        output = fwd(*args)
        setup(ctx, args, output)
        return _results(output, n)

    def jvp(ctx, *tangents):
        return _results(jvp_rule(ctx, *tangents), n)

    methods = {"forward": staticmethod(forward), "backward": staticmethod(cls.backward)}
    if with_jvp and jvp_rule is not torch.autograd.Function.jvp:
        methods["jvp"] = staticmethod(jvp)
    return type(cls.__name__, (torch.autograd.Function,), methods)


class _KnownDerivative(TransformableFunction):
    # forward, backward and jvp are torch operations only, so vmap can batch them directly
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, value: Tensor, deriv: Tensor, higher: Derivative | None,  # type: ignore[override]
                name: str) -> Tensor:
        return value

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        x, _, deriv, ctx.higher, ctx.name = inputs
        save_for_both(ctx, x, deriv)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None, None]:  # type: ignore[override]
        x, deriv = ctx.saved_tensors
        # Grad mode is on inside a backward pass exactly when it records a graph: only then must
        # the derivative be a differentiable function of x.
        if torch.is_grad_enabled():
            deriv = _differentiable(ctx, x, deriv)
        return grad * deriv, None, None, None, None

    @staticmethod
    def jvp(ctx, x_t: Tensor | None, *_: object) -> Tensor | None:  # type: ignore[override]
        check_forward_not_nested(ctx.name)
        if x_t is None:
            return None
        x, deriv = ctx.saved_tensors
        # Nothing tells a jvp whether an enclosing transform differentiates it in turn (reverse
        # mode around it, as in jacrev(jacfwd(f))): always use the derivative that is itself
        # differentiable in x.
        return x_t * _differentiable(ctx, x, deriv)


def _differentiable(ctx, x: Tensor, deriv: Tensor) -> Tensor:
    """The known derivative as a function of x that can be differentiated again (or raises)."""
    return ctx.higher(x) if ctx.higher is not None else no_derivative(
        x, deriv, f"the derivative of {ctx.name}")


class _NoDerivative(TransformableFunction):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, value: Tensor, name: str) -> Tensor:  # type: ignore[override]
        return value

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        ctx.name = inputs[2]

    @staticmethod
    def backward(ctx, grad: Tensor) -> None:  # type: ignore[override]
        raise _not_implemented(ctx.name)

    @staticmethod
    def jvp(ctx, *tangents: object) -> None:  # type: ignore[override]
        raise _not_implemented(ctx.name)


def check_forward_not_nested(name: str) -> None:
    """Raise inside a jvp rule that runs under an enclosing forward-mode transform.

    PyTorch runs an autograd.Function's jvp with forward-mode AD switched off, for every level:
    a forward-mode transform around another one (``jacfwd(jacfwd(f))``, ``jvp`` of ``jvp``) sees
    the inner tangent as a constant and returns zero for the second derivative. Reverse mode
    around or inside forward mode (``hessian``, ``jacrev(jacfwd(f))``) is exact and not affected.
    """
    if sum(kind == "Jvp" for kind in active_transforms()) > 1:
        raise RuntimeError(
            f"{name}: a forward-mode derivative nested in another forward-mode transform (jacfwd "
            "of jacfwd, jvp of jvp) is not supported, as PyTorch would return zero for it; use "
            "reverse mode for the outer or inner derivative (torch.func.hessian, jacrev)")


def active_transforms() -> list[str]:
    """Kinds ('Grad', 'Jvp', 'Vmap', ...) of the active torch.func transforms, outermost first
    (none while torch.compile traces: dynamo cannot trace the interpreter stack)."""
    if torch.compiler.is_compiling():
        return []
    return [interpreter.key().name for interpreter in retrieve_all_functorch_interpreters()]


def _not_implemented(name: str) -> RuntimeError:
    return RuntimeError(f"{name} cannot be differentiated: this higher-order derivative is not "
                        "implemented (requested by create_graph=True, a Hessian, a double backward "
                        "or a nested torch.func transform)")


def no_derivative(x: Tensor, value: Tensor, name: str) -> Tensor:
    """``value`` attached to the graph of ``x`` by a node that raises when differentiated (a
    derivative that is not implemented, instead of a silent zero)."""
    return _NoDerivative.call(x, value.detach(), name)


def with_derivative(x: Tensor, value: Tensor, deriv: Tensor, higher: Derivative | None = None, *,
                    name: str = "special function") -> Tensor:
    """``value`` (computed without grad) attached to the graph of ``x`` with d value/dx = ``deriv``.

    Elementwise: x, value and deriv share one shape (or broadcast to x's). ``higher(x)`` returns
    the derivative again, now differentiable in x (typically another ``with_derivative``); without
    it, second derivatives raise a RuntimeError naming ``name``. ``higher`` must compute from x
    alone, not from tensors it closes over: under torch.func those belong to a transform level
    that may be gone when it runs.
    """
    return _KnownDerivative.call(x, value.detach(), deriv.detach(), higher, name)
