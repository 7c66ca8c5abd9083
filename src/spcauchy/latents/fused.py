"""The spCauchy VAE latent layer as one autograd node: normalize, sample, KL.

    μ = h/‖h‖,  ρ = sigmoid(η),  z = Möbius(μ, ρ; u),  KL = KL(spCauchy(μ, ρ) ‖ uniform).

Mathematically identical to ``SphericalCauchy(F.normalize(h), rho_logit=η)`` followed by
``rsample()`` and ``kl_divergence(q, HypersphericalUniform(p))`` (tests check equality for the same
noise), but with one forward and one hand-written backward instead of about forty small autograd
nodes: at VAE batch sizes the cost of a latent layer is the number of tensor operations.
Backward through the normalization: ∂L/∂h = (g - (gᵀμ)μ)/‖h‖ for g = ∂L/∂μ. A backward pass that
records a graph (double backward, Hessians, torch.func.grad) instead applies the same formulas to
factors recomputed with autograd from the inputs, so that second derivatives are exact; the
forward pass is the same either way. The node works under torch.func (grad, vmap, jacrev, jacfwd:
its jvp is the derivative of the composition, computed from the inputs).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.types import _size

from ..special.autograd import TransformableFunction, check_forward_not_nested, save_for_both
from ..special.mobius import concentration, mobius_forward, mobius_jvp
from ..special.precision import full_precision, promote
from ..special.random import standard_normal
from ..special.spcauchy_kl import differentiable_kl_derivative, kl_and_derivative


class _Latent(TransformableFunction):
    # torch operations only, no data-dependent control flow: vmap batches them directly
    generate_vmap_rule = True
    saved_outputs = 9  # what the backward needs besides the inputs

    @staticmethod
    def forward(h: Tensor, eta: Tensor, noise: Tensor) -> tuple[Tensor, ...]:  # type: ignore[override]
        norm = torch.linalg.vector_norm(h, dim=-1, keepdim=True)
        loc = h / norm
        u = noise / torch.linalg.vector_norm(noise, dim=-1, keepdim=True)
        rho, rho_bar = concentration(eta, True)  # once, for the sampler and the KL
        z, saved = mobius_forward(loc, eta, u, True, (rho, rho_bar))
        kl, dkl = kl_and_derivative(h.shape[-1], eta, True, (rho, rho_bar))
        # the Möbius factors without x and ‖x‖: the backward skips the projection
        return z, kl, loc, norm, dkl, *saved[2:]

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        saved = output[2:]
        # None, not zeros, for the gradients of the saved factors and of an unused z or KL
        ctx.set_materialize_grads(False)
        save_for_both(ctx, *inputs, *saved)

    @staticmethod
    def backward(ctx, grad_z: Tensor | None, grad_kl: Tensor | None, *_: None
                 ) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        if grad_z is None and grad_kl is None:  # not materialized (set_materialize_grads(False))
            return None, None, None
        h, eta, noise, loc, norm, dkl, *factors = ctx.saved_tensors
        if torch.is_grad_enabled():  # recording a graph: a backward that is differentiable
            grad_h, grad_eta = _differentiable_backward(h, eta, noise, dkl, grad_z, grad_kl)
        else:
            grad_h = grad_eta = None
            if grad_z is not None:
                grad_h, grad_eta = _tangent_backward(grad_z, loc, norm, factors)
                grad_h, grad_eta = grad_h.sum_to_size(h.shape), grad_eta.sum_to_size(eta.shape)
            if grad_kl is not None:
                grad_eta = (grad_kl * dkl if grad_eta is None
                            else torch.addcmul(grad_eta, grad_kl, dkl))
        if grad_h is None and ctx.needs_input_grad[0]:
            grad_h = torch.zeros_like(h)  # only the KL is used, and it does not depend on h
        return grad_h, grad_eta, None

    @staticmethod
    def jvp(ctx, h_t: Tensor | None, eta_t: Tensor | None, *_: object  # type: ignore[override]
            ) -> tuple[Tensor | None, ...]:
        check_forward_not_nested("spcauchy_latent")
        # recomputed from the inputs, so that an enclosing transform can differentiate the tangents
        h, eta, noise, _, _, dkl = ctx.saved_tensors[:6]
        norm = torch.linalg.vector_norm(h, dim=-1, keepdim=True)
        loc = h / norm
        loc_t = None
        if h_t is not None:
            loc_t = (h_t - torch.linalg.vecdot(loc, h_t).unsqueeze(-1) * loc) / norm
        u = noise / torch.linalg.vector_norm(noise, dim=-1, keepdim=True)
        z_t = kl_t = None
        if h_t is not None or eta_t is not None:
            z_t = mobius_jvp(loc, eta, u, True, loc_t, eta_t)
        if eta_t is not None:
            kl_t = eta_t * differentiable_kl_derivative(h.shape[-1], eta, dkl, True)
        return (z_t, kl_t) + (None,) * 9


def _tangent_backward(grad: Tensor, loc: Tensor, norm: Tensor, factors: list[Tensor]
                      ) -> tuple[Tensor, Tensor]:
    """(∂L/∂h, ∂L/∂η) broadcast to the sample shape, for loc = h/‖h‖ and the Möbius factors
    (v, c_g, c_v, d_μ, d_v, vᵀμ) of special.mobius.

    The sampler gives ∂L/∂μ = c_g G - c_v (Gᵀv) v. The normalization keeps its part tangent at μ
    and divides by ‖h‖: ∂L/∂h = [c_g G - c_v (Gᵀv) v + (c_v (Gᵀv) vᵀμ - c_g Gᵀμ) μ]/‖h‖, which
    needs no reduction beyond Gᵀv and Gᵀμ (shared with ∂L/∂η = d_μ Gᵀμ - d_v Gᵀv). For such
    tangent perturbations x stays on the sphere, so the backward of its projection x/‖x‖ (the
    identity there) is skipped.
    """
    v, c_g, c_v, d_mu, d_v, v_mu = factors
    g_v = torch.linalg.vecdot(grad, v).unsqueeze(-1)
    g_mu = torch.linalg.vecdot(grad, loc).unsqueeze(-1)
    cv_gv = c_v * g_v
    radial = torch.addcmul(cv_gv * v_mu, c_g, g_mu, value=-1)
    grad_h = torch.addcmul(torch.addcmul(c_g * grad, cv_gv, v, value=-1), radial, loc) / norm
    return grad_h, torch.addcmul(d_mu * g_mu, d_v, g_v, value=-1).squeeze(-1)


def _differentiable_backward(h: Tensor, eta: Tensor, noise: Tensor, dkl: Tensor,
                             grad_z: Tensor | None, grad_kl: Tensor | None
                             ) -> tuple[Tensor | None, Tensor | None]:
    """(∂L/∂h, ∂L/∂η) by the fused backward's formulas, from factors recomputed with autograd
    recording, so that the result can be differentiated again (create_graph, torch.func).

    The formulas hold for every h, η (see special.mobius), so their derivatives are exact. They
    are differentiated directly, without a nested torch.autograd.grad, which torch.func transforms
    around this backward (jacrev, vmap of grad) could not see through.
    """
    norm = torch.linalg.vector_norm(h, dim=-1, keepdim=True)
    loc = h / norm
    grad_h = grad_eta = None
    if grad_z is not None:
        u = noise / torch.linalg.vector_norm(noise, dim=-1, keepdim=True)
        _, saved = mobius_forward(loc, eta, u, True)
        grad_h, grad_eta = _tangent_backward(grad_z, loc, norm, list(saved[2:]))
        grad_h, grad_eta = grad_h.sum_to_size(h.shape), grad_eta.sum_to_size(eta.shape)
    if grad_kl is not None:
        kl_term = grad_kl * differentiable_kl_derivative(h.shape[-1], eta, dkl, True)
        grad_eta = kl_term if grad_eta is None else grad_eta + kl_term
    return grad_h, grad_eta


@full_precision
def spcauchy_latent(direction: Tensor, rho_logit: Tensor, sample_shape: _size = torch.Size()
                    ) -> tuple[Tensor, Tensor]:
    """Reparameterized sample and KL to the uniform prior of spCauchy(h/‖h‖, sigmoid(η)).

    Args:
        direction: unnormalized mean direction h, shape (..., p).
        rho_logit: η, shape (...) (the batch shape of ``direction``).
        sample_shape: leading shape of the samples.

    Returns:
        z of shape sample_shape + (..., p) and KL of shape (...), both differentiable w.r.t.
        ``direction`` and ``rho_logit``; float32 for float16/bfloat16 inputs.
    """
    if direction.shape[:-1] != rho_logit.shape:
        raise ValueError(f"rho_logit shape {tuple(rho_logit.shape)} must equal the batch shape "
                         f"{tuple(direction.shape[:-1])} of direction")
    direction, rho_logit = promote(direction), promote(rho_logit)
    noise = standard_normal(torch.Size(sample_shape) + direction.shape, direction.dtype,
                            direction.device)
    return _Latent.call(direction, rho_logit, noise)
