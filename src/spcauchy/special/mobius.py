"""The Möbius sampler of the spherical Cauchy distribution as one differentiable operation.

With u uniform on S^{p-1}, w = ρμ, v = u + w, s = ‖v‖² and k = (1-ρ²)/s:

    x = w + k v                                  ~ spCauchy(μ, ρ) exactly.

Backward, for an upstream gradient G (derived in docs/math.md):

    ∂L/∂μ = ρ [(1+k) G - (2k/s)(Gᵀv) v]
    ∂L/∂ρ = (1+k) Gᵀμ - (2/s)(Gᵀv)(ρ + k vᵀμ),      ∂L/∂η = ∂L/∂ρ · ρ(1-ρ) for ρ = sigmoid(η).

The result is projected onto the sphere (x/‖x‖, which is the identity in exact arithmetic) because
rounding in u near -μ is amplified by up to (1+ρ)/(1-ρ); the backward includes the projection,
G ← (G - (Gᵀx)x)/‖x‖. A hand-written backward keeps the number of tensor operations (the cost at
VAE batch sizes) low. Both formulas hold for any loc, not only unit vectors, so when a backward pass
records a graph (double backward) the factors are recomputed with autograd from the saved inputs and
the backward formula itself is differentiated: second derivatives are exact.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .autograd import TransformableFunction, check_forward_not_nested, save_for_both
from .precision import full_precision, promote


def concentration(param: Tensor, is_logit: bool) -> tuple[Tensor, Tensor]:
    """(ρ, 1-ρ) from ρ or its logit (then without cancellation), shape (...)."""
    if is_logit:
        return torch.sigmoid(param), torch.sigmoid(-param)
    return param, 1 - param


def _shifted(loc: Tensor, param: Tensor, u: Tensor, is_logit: bool,
             parts: tuple[Tensor, Tensor] | None = None
             ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(ρ, 1-ρ, w = ρμ, v = u + w, s = ‖v‖²), the concentrations as (..., 1) columns;
    ``parts``: (ρ, 1-ρ), shape (...), where the caller has them."""
    rho, rho_bar = concentration(param, is_logit) if parts is None else parts
    rho, rho_bar = rho.unsqueeze(-1), rho_bar.unsqueeze(-1)
    w = rho * loc
    v = u + w
    s = torch.linalg.vecdot(v, v).unsqueeze(-1)
    return rho, rho_bar, w, v, s


def mobius_forward(loc: Tensor, param: Tensor, u: Tensor, is_logit: bool,
                   parts: tuple[Tensor, Tensor] | None = None
                   ) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Samples x (..., p) and the per-row factors the backward needs (no autograd),
    (x, ‖x‖, v, c_g, c_v, d_μ, d_v, vᵀμ); ``parts``: (ρ, 1-ρ) of ``param`` (``concentration``),
    where the caller has them."""
    rho, rho_bar, w, v, s = _shifted(loc, param, u, is_logit, parts)
    k = torch.addcmul(rho_bar, rho_bar, rho) / s  # (1-ρ)(1+ρ)/s
    # The backward reduced to per-row factors (see the module docstring):
    # ∂L/∂μ = c_g G - (c_v Gᵀv) v,  ∂L/∂param = d_μ Gᵀμ - d_v Gᵀv.
    two_over_s = 2 / s
    v_mu = torch.linalg.vecdot(v, loc).unsqueeze(-1)
    d_v = two_over_s * torch.addcmul(rho, k, v_mu)
    c_g = torch.addcmul(rho, rho, k)  # ρ(1 + k)
    if is_logit:  # dρ/dη = ρ(1-ρ)
        dr = rho * rho_bar
        d_v, d_mu = d_v * dr, torch.addcmul(dr, dr, k)
    else:
        d_mu = k + 1
    x = torch.addcmul(w, k, v)
    # The map is exact but amplifies rounding of u near -μ by up to (1+ρ)/(1-ρ): project back
    # onto the sphere (‖x‖ = 1 identically for unit loc; the backward includes the projection).
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    x = x / norm
    return x, (x, norm, v, c_g, rho * k * two_over_s, d_mu, d_v, v_mu)


def mobius_backward(
    grad: Tensor, loc: Tensor, saved: tuple[Tensor, ...], need_loc: bool, need_param: bool,
) -> tuple[Tensor | None, Tensor | None]:
    """(∂L/∂loc, ∂L/∂param) broadcast to the sample shape (callers reduce with sum_to_size),
    from the factors of ``mobius_forward``."""
    x, norm, v, c_g, c_v, d_mu, d_v = saved[:7]
    # through the projection x/‖x‖ (the identity on the sphere, not off it)
    grad = torch.addcmul(grad, torch.linalg.vecdot(grad, x).unsqueeze(-1), x, value=-1) / norm
    g_v = torch.linalg.vecdot(grad, v).unsqueeze(-1)
    grad_loc = torch.addcmul(c_g * grad, c_v * g_v, v, value=-1) if need_loc else None
    grad_param = None
    if need_param:
        g_mu = torch.linalg.vecdot(grad, loc).unsqueeze(-1)
        grad_param = torch.addcmul(d_mu * g_mu, d_v, g_v, value=-1).squeeze(-1)
    return grad_loc, grad_param


def mobius_jvp(loc: Tensor, param: Tensor, u: Tensor, is_logit: bool, loc_t: Tensor | None,
               param_t: Tensor | None) -> Tensor:
    """Forward-mode derivative of the sample x for tangents of loc (..., p) and param (...).

    Differentiable in loc and param (every factor is recomputed from them), so that a transform
    enclosing the jvp can differentiate it again. With w = ρμ, v = u + w, s = ‖v‖², k = (1-ρ²)/s
    and y = w + kv: ẇ = ρ̇μ + ρμ̇, ṡ = 2vᵀẇ, k̇ = -(2ρρ̇ + kṡ)/s, ẏ = (1+k)ẇ + k̇v, and the
    projection x = y/‖y‖ gives ẋ = (ẏ - (xᵀẏ)x)/‖y‖.
    """
    rho, rho_bar, w, v, s = _shifted(loc, param, u, is_logit)
    k = rho_bar * (1 + rho) / s
    y = w + k * v
    norm = torch.linalg.vector_norm(y, dim=-1, keepdim=True)
    x = y / norm
    w_t = torch.zeros_like(v)
    k_t = torch.zeros_like(s)
    if param_t is not None:
        rho_t = (param_t * rho.squeeze(-1) * rho_bar.squeeze(-1) if is_logit else param_t
                 ).unsqueeze(-1)
        w_t = w_t + rho_t * loc
        k_t = k_t - 2 * rho * rho_t / s
    if loc_t is not None:
        w_t = w_t + rho * loc_t
    k_t = k_t - k * (2 * torch.linalg.vecdot(v, w_t).unsqueeze(-1)) / s
    y_t = (1 + k) * w_t + k_t * v
    return (y_t - torch.linalg.vecdot(x, y_t).unsqueeze(-1) * x) / norm


class _Mobius(TransformableFunction):
    # torch operations only, no data-dependent control flow: vmap batches them directly
    generate_vmap_rule = True
    saved_outputs = 6  # the backward's factors

    @staticmethod
    def forward(loc: Tensor, param: Tensor, u: Tensor, is_logit: bool  # type: ignore[override]
                ) -> tuple[Tensor, ...]:
        x, saved = mobius_forward(loc, param, u, is_logit)
        # saved[0] is x itself; vᵀμ (last) serves only the fused VAE layer
        return (x, *saved[1:7])

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        loc, param, u, ctx.is_logit = inputs
        ctx.param_shape = param.shape
        ctx.set_materialize_grads(False)  # None, not zeros, for the factors' gradients
        save_for_both(ctx, loc, param, u, *output)

    @staticmethod
    def backward(ctx, grad: Tensor | None, *_: None  # type: ignore[override]
                 ) -> tuple[Tensor | None, Tensor | None, None, None]:
        if grad is None:  # not materialized as zeros (set_materialize_grads(False))
            return None, None, None, None
        loc, param, u, *saved = ctx.saved_tensors
        if torch.is_grad_enabled():  # recording a graph: rebuild the factors as functions of loc, ρ
            _, saved = mobius_forward(loc, param, u, ctx.is_logit)
        grad_loc, grad_param = mobius_backward(grad, loc, tuple(saved), *ctx.needs_input_grad[:2])
        if grad_loc is not None:
            grad_loc = grad_loc.sum_to_size(loc.shape)
        if grad_param is not None:
            grad_param = grad_param.sum_to_size(ctx.param_shape)
        return grad_loc, grad_param, None, None

    @staticmethod
    def jvp(ctx, loc_t: Tensor | None, param_t: Tensor | None, *_: object  # type: ignore[override]
            ) -> tuple[Tensor | None, ...]:
        check_forward_not_nested("the spCauchy sampler")
        loc, param, u = ctx.saved_tensors[:3]
        x_t = None
        if loc_t is not None or param_t is not None:
            x_t = mobius_jvp(loc, param, u, ctx.is_logit, loc_t, param_t)
        return (x_t,) + (None,) * 6


@full_precision
def mobius_sample(loc: Tensor, u: Tensor, rho: Tensor | None = None, *,
                  rho_logit: Tensor | None = None) -> Tensor:
    """Map uniform points ``u`` (..., p) to spCauchy(loc, ρ) samples (..., p).

    ``loc`` (..., p) and the concentration (``rho`` or ``rho_logit``, shape (...)) broadcast against
    u; gradients flow to ``loc`` and to the given concentration parameter.
    """
    param = rho_logit if rho_logit is not None else rho
    return _Mobius.call(promote(loc), promote(param), promote(u), rho_logit is not None)
