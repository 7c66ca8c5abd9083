"""KL(spCauchy(μ, ρ) ‖ uniform on S^{p-1}) as one differentiable operation.

    KL = (p-1) K(ρ),   K(ρ) = g_p(ρ) - log(1-ρ²),   K'(ρ) = g_p'(ρ) + 2ρ/(1-ρ²).

p is fixed in a model, so K is tabulated once per (p, dtype, device) as a function of the logit
x = log(ρ/(1-ρ)), on which it is analytic. The table holds, on cells of width 1/64 over
[-20, 40], degree-5 polynomials (Chebyshev fits of the exact series of spcauchy_moments) of

    L(x) = log K - 2 log ρ + log(p-1)    (→ log(2(p-1)²/p) as x → -∞: relative accuracy at ρ → 0)

and of its derivative L'(x), so that KL = ρ² e^L and dKL/dx = KL (L' + 2(1-ρ)). Below x = -20 the
clamped table is exact (the next term is ρ² < 5e-18); above x = 40, K(x) = K(40) + x - 40 to
double precision, as K - softplus(x) is constant there up to e^-40. Value and derivative are
computed together under no_grad and the backward pass is one multiply: at VAE batch sizes the
cost is the number of tensor operations, not arithmetic. Measured against the exact series: at
most 1.7e-14 relative error (docs/math.md). Second derivatives (double backward only) use the
derivative of the L' polynomial: d²KL/dx² = KL ((L' + 2(1-ρ))² + L'' - 2ρ(1-ρ)).
"""

from __future__ import annotations

import math
from functools import cache
from typing import NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from .autograd import (
    TransformableFunction,
    check_forward_not_nested,
    save_for_both,
    with_derivative,
)
from .checks import check_dim
from .precision import full_precision, promote
from .spcauchy_moments import log_moments
from .tables import constant_table

_X_LEFT, _X_RIGHT, _CELLS_PER_UNIT, _DEGREE = -20.0, 40.0, 64, 5
# Largest table coordinate: a power of two below the number of cells, exact in float32.
_S_MAX = (_X_RIGHT - _X_LEFT) * _CELLS_PER_UNIT - 2.0**-6
_X_MAX = _X_LEFT + _S_MAX / _CELLS_PER_UNIT


T = TypeVar("T")


def one_of(rho: T | None, rho_logit: T | None, owner: str = "") -> tuple[T, bool]:
    """The concentration as given, (ρ or its logit, is_logit), for exactly one of the two.

    Both stay possible inputs rather than one canonical parameter: ρ → logit → ρ costs an ulp
    of ρ, and the logit keeps 1 - ρ exact near ρ = 1; every consumer branches on ``is_logit``.
    """
    if (rho is None) == (rho_logit is None):
        raise ValueError(f"{owner + ': ' if owner else ''}pass exactly one of rho or rho_logit")
    return (rho_logit, True) if rho_logit is not None else (rho, False)  # type: ignore[return-value]


def rho_parts(rho: Tensor | None, rho_logit: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """(ρ, 1-ρ, log(1-ρ)) from exactly one of ρ or its logit, without cancellation."""
    x, is_logit = one_of(rho, rho_logit)
    if is_logit:
        # logsigmoid, not -softplus: softplus is linear above its threshold (20), off by e^-20.
        return torch.sigmoid(x), torch.sigmoid(-x), F.logsigmoid(-x)
    # 1 - ρ is exact for ρ ≥ 1/2 (Sterbenz) and well conditioned below.
    return x, 1 - x, torch.log1p(-x)


def log1m_square(rho: Tensor, log_rho_bar: Tensor) -> Tensor:
    """log(1-ρ²): log1p(-ρ²) for small ρ (no cancellation), log(1-ρ) + log1p(ρ) near 1."""
    return torch.where(rho < 0.5, torch.log1p(-rho * rho), log_rho_bar + torch.log1p(rho))


def kl_exact(dim: int, rho: Tensor, rho_bar: Tensor, log_rho_bar: Tensor) -> tuple[Tensor, Tensor]:
    """(K(ρ), dK/dρ) from the exact series (float64 reference path and table builder)."""
    g, dg = log_moments(dim, rho, rho_bar)
    return g - log1m_square(rho, log_rho_bar), dg + 2 * rho / (rho_bar * (1 + rho))


class _Table(NamedTuple):
    # (degree+1, cells, 2): monomial coefficients of L + log(p-1) and L' in the cell's t ∈ [0, 1),
    # power-major, so that each Horner step reads contiguous rows
    coef: Tensor
    scale: Tensor  # 0-dim constants, so that no operation wraps a Python scalar (≈2x slower)
    offset: Tensor
    two: Tensor
    one: Tensor
    x_max: Tensor
    dim_m1: Tensor


def _table(dim: int, dtype: torch.dtype, device: torch.device) -> _Table:
    """The per-(p, dtype, device) table of L(x) + log(p-1) and L'(x); see the module docstring."""
    if torch.compiler.is_compiling():  # graph constants (tables.constant_table)
        return _assemble(dim, dtype, device)
    return _cached_table(dim, dtype, device)


@cache
def _cached_table(dim: int, dtype: torch.dtype, device: torch.device) -> _Table:
    return _assemble(dim, dtype, device)


def _assemble(dim: int, dtype: torch.dtype, device: torch.device) -> _Table:
    return _Table(_coefficients(dim, dtype, device), *_constants(dim, dtype, device).unbind())


@constant_table
def _constants(dim: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The _Table fields after ``coef``, as one tensor."""
    return torch.tensor([_CELLS_PER_UNIT, -_X_LEFT * _CELLS_PER_UNIT, 2.0, 1.0, _X_MAX,
                         dim - 1.0], dtype=dtype, device=device)


@constant_table
def _coefficients(dim: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``_Table.coef``: Chebyshev fits of L + log(p-1) and L' on every cell, as monomials in
    the position t ∈ [0, 1) within the cell."""
    f64 = torch.float64
    cells = int((_X_RIGHT - _X_LEFT) * _CELLS_PER_UNIT)
    n = _DEGREE + 1
    nodes = torch.cos(math.pi * (torch.arange(n, dtype=f64) + 0.5) / n)  # Chebyshev points
    left = _X_LEFT + torch.arange(cells, dtype=f64) / _CELLS_PER_UNIT
    x = left[:, None] + (nodes[None, :] + 1) / (2 * _CELLS_PER_UNIT)  # (cells, n)
    rho, rho_bar, log_rho_bar = rho_parts(None, x)
    k, dk = kl_exact(dim, rho, rho_bar, log_rho_bar)
    log_l = torch.log(k) - 2 * torch.log(rho) + math.log(dim - 1)
    values = torch.stack([log_l, dk * rho * rho_bar / k - 2 * rho_bar])
    # Chebyshev coefficients by the discrete cosine transform, then exact change to monomials.
    j = torch.arange(n, dtype=f64)
    cos = torch.cos(math.pi * j[:, None] * (j[None, :] + 0.5) / n)  # (degree, node)
    cheb = 2 / n * values @ cos.T  # (2, cells, n)
    cheb[..., 0] /= 2
    to_mono = torch.zeros(n, n, dtype=f64)  # row k: monomial coefficients of T_k
    to_mono[0, 0] = 1
    to_mono[1, 1] = 1
    for d in range(2, n):
        to_mono[d, 1:] = 2 * to_mono[d - 1, :-1]
        to_mono[d] -= to_mono[d - 2]
    # from the Chebyshev variable 2t - 1 ∈ [-1, 1] to t: (2t - 1)^k = Σ_j C(k, j) 2^j (-1)^(k-j) t^j
    shift = torch.tensor([[math.comb(k, j) * 2.0**j * (-1.0) ** (k - j) if j <= k else 0.0
                           for j in range(n)] for k in range(n)], dtype=f64)
    mono = (cheb @ to_mono @ shift).permute(2, 1, 0).contiguous()  # (n, cells, 2)

    return mono.to(dtype=dtype, device=device)


def kl_and_derivative(dim: int, param: Tensor, is_logit: bool,
                      parts: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """(KL, dKL/dparam) for param = ρ or its logit; shapes (...) -> (...), (...).

    ``parts``: (ρ, 1-ρ) of a logit ``param``, shape (...), where the caller has them.
    """
    tab = _table(dim, param.dtype, param.device)
    shape = param.shape
    flat = param.dim() != 1  # index_select takes a vector
    if flat:
        param = param.reshape(-1)
    if parts is not None:
        x, (rho, rho_bar) = param, (r.reshape(-1) if flat else r for r in parts)
    else:
        if is_logit:
            x, rho = param, torch.sigmoid(param)
        else:
            rho = param
            x = torch.log(rho) - torch.log1p(-rho)
        # 1 - ρ only enters next to L' ≈ 1/x, so its rounding near ρ = 1 is harmless.
        rho_bar = tab.one - rho
    # in place, except under torch.func: vmap has no batching rule for clamp_ and would loop
    clamp = torch.clamp if torch._C._are_functorch_transforms_active() else torch.clamp_
    s = clamp(torch.addcmul(tab.offset, x, tab.scale), 0, _S_MAX)
    t = torch.frac(s).unsqueeze_(-1)
    # NaN casts to an arbitrary integer: clamp the index so NaN input gives NaN output, not a crash
    coef = tab.coef.index_select(1, clamp(s.long(), 0, tab.coef.shape[1] - 1)).unbind(0)
    # Horner's rule on (n, 2) rows (L + log(p-1), L'): fewer, cheaper operations than forming the
    # powers of t and a batched product at these sizes.
    lv = coef[_DEGREE]
    for j in range(_DEGREE - 1, -1, -1):
        lv = torch.addcmul(coef[j], lv, t)
    log_e, dlog_e = lv.unbind(1)
    e = torch.exp(log_e)
    k_table = torch.mul(rho, rho).mul_(e)
    if is_logit:
        # Above the table dK/dx is ρ(p-1) = p-1 to double precision, which is also the value at
        # its right end, where x is clamped: no branch is needed.
        dk = torch.addcmul(dlog_e, rho_bar, tab.two).mul_(k_table)
    else:  # dK/dρ = ρ e^L (2 + L'/(1-ρ)), finite at ρ = 0; ρ < 1 keeps x below the table's end
        dk = rho * e * (2 + dlog_e / rho_bar)
    # Above the table, K grows like softplus(x) (error < e^-40): add the excess linearly.
    k = torch.addcmul(k_table, torch.relu(x - tab.x_max), tab.dim_m1)
    return (k.view(shape), dk.view(shape)) if flat else (k, dk)


@torch.no_grad()
def kl_second_derivative(dim: int, param: Tensor, is_logit: bool) -> Tensor:
    """d²KL/dparam² for param = ρ or its logit x, from the table of kl_and_derivative.

    d²KL/dx² = KL ((L' + 2ρ̄)² + L'' - 2ρρ̄) with ρ̄ = 1-ρ and L'' the derivative of the L'
    polynomial; in ρ (x' = 1/(ρρ̄), x'' = (2ρ-1)/(ρρ̄)²) the factor ρ² of KL = ρ²e^L cancels:
    d²KL/dρ² = e^L ((L' + 2ρ̄)² + L'' - 2ρρ̄ + (L' + 2ρ̄)(2ρ-1)) / ρ̄².
    """
    tab = _table(dim, param.dtype, param.device)
    shape, param = param.shape, param.reshape(-1)
    if is_logit:
        x, rho, rho_bar = param, torch.sigmoid(param), torch.sigmoid(-param)
    else:
        rho, rho_bar = param, 1 - param
        x = torch.log(rho) - torch.log1p(-rho)
    s = (tab.offset + x * tab.scale).clamp(0, _S_MAX)
    t = torch.frac(s).unsqueeze(-1)
    coef = tab.coef.index_select(1, s.long().clamp(0, tab.coef.shape[1] - 1)).unbind(0)
    value, slope = coef[_DEGREE], torch.zeros_like(coef[_DEGREE])
    for j in range(_DEGREE - 1, -1, -1):  # Horner's rule for the polynomials and their t-slopes
        slope = slope * t + value
        value = value * t + coef[j]
    log_e, dlog_e = value.unbind(1)
    d2log_e = slope[:, 1] * _CELLS_PER_UNIT  # t spans [0, 1) on a cell of width 1/64
    e = torch.exp(log_e)
    first = dlog_e + 2 * rho_bar
    curvature = first * first + d2log_e - 2 * rho * rho_bar
    if is_logit:
        # above the table KL grows linearly with slope (p-1)ρ: curvature (p-1)ρρ̄
        d2 = torch.where(x > _X_MAX, (dim - 1) * rho * rho_bar, rho * rho * e * curvature)
    else:
        d2 = e * (curvature + first * (2 * rho - 1)) / (rho_bar * rho_bar)
    return d2.view(shape)


def differentiable_kl_derivative(dim: int, param: Tensor, dkl: Tensor, is_logit: bool) -> Tensor:
    """dKL/dparam (``dkl``, from kl_and_derivative) as a function of ``param`` that can be
    differentiated once more (its third derivative raises)."""
    return with_derivative(param, dkl, kl_second_derivative(dim, param, is_logit),
                           name="dKL/dη of KL(spCauchy ‖ uniform)")


class _KLUniform(TransformableFunction):
    # torch operations only (kl_and_derivative, kl_second_derivative): vmap batches them directly
    generate_vmap_rule = True
    saved_outputs = 1  # dkl

    @staticmethod
    def forward(param: Tensor, dim: int, is_logit: bool) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return kl_and_derivative(dim, param, is_logit)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        param, ctx.dim, ctx.is_logit = inputs
        dkl = output[1]
        ctx.set_materialize_grads(False)  # None, not zeros, for dkl's gradient
        save_for_both(ctx, param, dkl)

    @staticmethod
    def backward(ctx, grad: Tensor | None, *_: None  # type: ignore[override]
                 ) -> tuple[Tensor | None, None, None]:
        if grad is None:  # not materialized as zeros (set_materialize_grads(False))
            return None, None, None
        param, dkl = ctx.saved_tensors
        if torch.is_grad_enabled():  # recording a graph (double backward): differentiable dkl
            dkl = differentiable_kl_derivative(ctx.dim, param, dkl, ctx.is_logit)
        return grad * dkl, None, None

    @staticmethod
    def jvp(ctx, param_t: Tensor | None, *_: object) -> tuple[Tensor | None, None]:  # type: ignore[override]
        check_forward_not_nested("KL(spCauchy ‖ uniform)")
        if param_t is None:
            return None, None
        param, dkl = ctx.saved_tensors
        # an enclosing transform may differentiate the tangent again: differentiable dkl
        return param_t * differentiable_kl_derivative(ctx.dim, param, dkl, ctx.is_logit), None


@full_precision
def kl_uniform(dim: int, rho: Tensor | None = None, *, rho_logit: Tensor | None = None) -> Tensor:
    """KL(spCauchy(μ, ρ) ‖ Uniform(S^{dim-1})) for each batch element; independent of μ.

    Args:
        dim: ambient dimension p ≥ 2.
        rho: concentration in [0, 1), shape (...); or
        rho_logit: its logit (any real), shape (...). Use this near ρ = 1: 1 - ρ is then never
            formed by subtraction, so float32 stays exact up to |rho_logit| ≈ 88.

    Returns:
        Tensor of shape (...), differentiable w.r.t. the given parameter, with relative error at
        the level of the dtype's epsilon (tests/test_kl_reference.py); float32 for
        float16/bfloat16 input.
    """
    check_dim(dim)
    param, is_logit = one_of(rho, rho_logit)
    if not torch.is_tensor(param) or not param.is_floating_point():
        raise ValueError(f"{'rho_logit' if is_logit else 'rho'} must be a floating-point tensor")
    return _KLUniform.call(promote(param), dim, is_logit)
