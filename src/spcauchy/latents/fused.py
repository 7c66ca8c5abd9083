"""The spCauchy VAE latent layer as one autograd node: normalize, sample, KL.

    μ = h/‖h‖,  ρ = sigmoid(η),  z = Möbius(μ, ρ; u),  KL = KL(spCauchy(μ, ρ) ‖ uniform).

Mathematically identical to ``SphericalCauchy(F.normalize(h), rho_logit=η)`` followed by
``rsample()`` and ``kl_divergence(q, HypersphericalUniform(p))`` (tests check equality for the same
noise), but with one forward and one hand-written backward instead of about forty small autograd
nodes: at VAE batch sizes the cost of a latent layer is the number of tensor operations.
Backward through the normalization: ∂L/∂h = (g - (gᵀμ)μ)/‖h‖ for g = ∂L/∂μ. A backward pass that
records a graph (double backward, Hessians) instead differentiates the unfused composition, whose
pieces are twice differentiable; the forward pass is the same either way.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.types import _size

from ..special.mobius import mobius_backward, mobius_forward, mobius_sample
from ..special.spcauchy_kl import kl_and_derivative, kl_uniform


class _Latent(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, eta: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        norm = torch.linalg.vector_norm(h, dim=-1, keepdim=True)
        loc = h / norm
        u = noise / torch.linalg.vector_norm(noise, dim=-1, keepdim=True)
        z, saved = mobius_forward(loc, eta, u, True)
        kl, dkl = kl_and_derivative(h.shape[-1], eta, True)
        ctx.save_for_backward(h, eta, noise, loc, norm, dkl, *saved)
        return z, kl

    @staticmethod
    def backward(ctx, grad_z: Tensor | None, grad_kl: Tensor | None
                 ) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        h, eta, noise, loc, norm, dkl, *saved = ctx.saved_tensors
        if torch.is_grad_enabled():  # recording a graph: differentiate the unfused composition
            return (*_unfused_backward(h, eta, noise, grad_z, grad_kl), None)
        grad_h = grad_eta = None
        if grad_z is not None:
            grad_loc, grad_eta = mobius_backward(grad_z, loc, tuple(saved), True, True,
                                                 unit_loc=True)
            grad_loc = grad_loc.sum_to_size(loc.shape)
            grad_eta = grad_eta.sum_to_size(dkl.shape)
            radial = torch.linalg.vecdot(grad_loc, loc).unsqueeze(-1)
            grad_h = torch.addcmul(grad_loc, radial, loc, value=-1) / norm
        if grad_kl is not None:
            grad_eta = grad_kl * dkl if grad_eta is None else torch.addcmul(grad_eta, grad_kl, dkl)
        return grad_h, grad_eta, None


def _unfused_backward(h: Tensor, eta: Tensor, noise: Tensor, grad_z: Tensor | None,
                      grad_kl: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
    """(∂L/∂h, ∂L/∂η) through the same computation in differentiable pieces (create_graph)."""
    outputs, grads = [], []
    with torch.enable_grad():
        if grad_z is not None:
            u = noise / torch.linalg.vector_norm(noise, dim=-1, keepdim=True)
            loc = h / torch.linalg.vector_norm(h, dim=-1, keepdim=True)
            outputs.append(mobius_sample(loc, u, rho_logit=eta))
            grads.append(grad_z)
        if grad_kl is not None:
            outputs.append(kl_uniform(h.shape[-1], rho_logit=eta))
            grads.append(grad_kl)
        needs = [t for t in (h, eta) if t.requires_grad]
        found = iter(torch.autograd.grad(outputs, needs, grads, create_graph=True,
                                         allow_unused=True))
        return tuple(next(found) if t.requires_grad else None for t in (h, eta))  # type: ignore[return-value]


def spcauchy_latent(direction: Tensor, rho_logit: Tensor, sample_shape: _size = torch.Size()
                    ) -> tuple[Tensor, Tensor]:
    """Reparameterized sample and KL to the uniform prior of spCauchy(h/‖h‖, sigmoid(η)).

    Args:
        direction: unnormalized mean direction h, shape (..., p).
        rho_logit: η, shape (...) (the batch shape of ``direction``).
        sample_shape: leading shape of the samples.

    Returns:
        z of shape sample_shape + (..., p) and KL of shape (...), both differentiable w.r.t.
        ``direction`` and ``rho_logit``.
    """
    if direction.shape[:-1] != rho_logit.shape:
        raise ValueError(f"rho_logit shape {tuple(rho_logit.shape)} must equal the batch shape "
                         f"{tuple(direction.shape[:-1])} of direction")
    noise = torch.randn(torch.Size(sample_shape) + direction.shape, dtype=direction.dtype,
                        device=direction.device)
    return _Latent.apply(direction, rho_logit, noise)
