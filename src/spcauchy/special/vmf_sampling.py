"""Sampling the vMF marginal s = 1 - μᵀx on [0, 2], and its implicit reparameterization gradient.

The density of s is g(s) ∝ e^{-κs} (s(2-s))^m with m = (p-3)/2.

* Sampling: Wood's (1994) rejection sampler, vectorised. b = (p-1)/(2κ + √(4κ² + (p-1)²)),
  x₀ = (1-b)/(1+b); propose z = g₁/(g₁+g₂) ~ Beta((p-1)/2, (p-1)/2) from two gamma draws,
  s = 2bz/(1-(1-b)z) and accept when
      log u ≤ 2κb/(1+b) - κs + (p-1)[log1p(x₀s/(1-x₀)) - log1p(x₀)]
  (Wood's test κw + (p-1)log(1-x₀w) - c ≥ log u rewritten in s, exact at any κ). In the gamma
  draws, s = 2bg₁/(g₂ + bg₁), 1 + x₀s/(1-x₀) = (g₁+g₂)/(g₂ + bg₁) and 1 + x₀ = 2/(1+b): neither
  1 - z nor 1 - b nor 1 - x₀ = 2b/(1+b) is formed by subtraction, which in float32 rounded
  1 - (1-b)z for b ≈ (p-1)/(4κ) below eps (biasing s for κ ≳ 1e7) and cost 1 - x₀ its relative
  accuracy (at p = 800, κ = 1e8 almost every proposal was rejected). Every element
  draws ``proposals`` candidates per round; rounds repeat for unfinished elements and the sampler
  raises instead of returning if ``max_rounds`` do not suffice.
* Gradient: with G the CDF of s, ds/dκ = -(∂G/∂κ)/g(s) (implicit reparameterization). Because
  ∂ log g/∂κ = E[s] - s = B - s, and E[B - σ] = 0, either tail gives the same value:
      ds/dκ = ∫_s^2 (B - σ) g(σ)/g(s) dσ = -∫_0^s (B - σ) g(σ)/g(s) dσ.
  The normalizer cancels in g(σ)/g(s). The tail away from the mode is used, where g(σ)/g(s) ≤ 1
  decays monotonically (log g is concave for p ≥ 3); it is cut where log g has dropped by 36
  (the shortest of the lengths 2^-j·tail that does so), mapped to v ∈ [0, 1] by σ = e + (s-e)v²
  (which also removes the (σ(2-σ))^m endpoint singularity) and integrated by Gauss–Legendre.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .autograd import TransformableFunction, active_transforms
from .tables import constant_table

_LOG_DROP = 36.0  # e^-36 ≈ 2e-16
_NODES = 64  # exact to 1e-13 for log-drops up to 160 across the interval (4 × _LOG_DROP)
_LADDER = 48  # lengths down to 2^-47 of the tail: 40/κ at κ = 10⁸ needs 2^-23


@constant_table
def gauss_legendre01(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Gauss–Legendre nodes and weights on [0, 1], stacked (2, n) (Golub–Welsch, float64
    eigendecomposition)."""
    k = torch.arange(1, n, dtype=torch.float64)
    off = k / torch.sqrt(4 * k * k - 1)
    nodes, vecs = torch.linalg.eigh(torch.diag(off, 1) + torch.diag(off, -1))
    weights = 2 * vecs[0] ** 2
    return torch.stack([(nodes + 1) / 2, weights / 2]).to(dtype=dtype, device=device)


def _propose(dim: int, kappa: Tensor, b: Tensor, proposals: int) -> tuple[Tensor, Tensor]:
    """``proposals`` candidates s and their acceptance flags, shape (proposals, *kappa.shape)."""
    shape = (proposals, *kappa.shape)
    a = torch.full(shape, (dim - 1) / 2, dtype=kappa.dtype, device=kappa.device)
    g1, g2 = torch._standard_gamma(a), torch._standard_gamma(a)  # z = g1/(g1+g2) ~ Beta(a, a)
    den = g2 + b * g1  # (g1+g2)(1 - (1-b)z)
    s = 2 * b * g1 / den
    log_ratio = (2 * kappa * b / (1 + b) - kappa * s
                 + (dim - 1) * (torch.log((g1 + g2) / den) - math.log(2) + torch.log1p(b)))
    u = torch.rand(shape, dtype=kappa.dtype, device=kappa.device)
    return s, torch.log(u) <= log_ratio


def wood_sample(dim: int, kappa: Tensor, *, proposals: int = 4, max_rounds: int = 64) -> Tensor:
    """Exact draws of s = 1 - μᵀx for vMF(μ, κ) on S^{dim-1}, one per element of ``kappa``.

    Raises ValueError if an unfinished element's κ is NaN or infinite, and RuntimeError if some
    element with a finite κ has no accepted proposal after ``max_rounds`` rounds.
    The acceptance probability of one proposal is at least 0.65 on p ∈ [2, 10⁴], κ ∈ [0, 10⁸]
    (lowest at p = 2, large κ), so a round leaves an element unfinished with probability ≤ 0.02
    and the error signals a bug, not bad luck.

    Under ``torch.vmap`` with ``randomness="different"`` every element of the vmapped batch gets
    its own draw; with ``"same"`` one draw serves the whole batch, which needs a ``kappa`` that is
    not vmapped over (else RuntimeError); with ``"error"`` the draw raises, as torch's do.
    """
    if "Vmap" in active_transforms():
        # a random draw under the same vmap: batched exactly when the randomness is "different",
        # so that vmap runs _Draw's rule even when κ is shared by the whole batch
        token = torch.rand((), dtype=kappa.dtype, device=kappa.device)
        return _Draw.call(kappa.detach(), token, dim, proposals, max_rounds)
    return _wood_sample(dim, kappa, proposals, max_rounds)


class _Draw(TransformableFunction):
    """wood_sample as an operation that vmap can batch.

    The rejection loop ends on a host-side test of the whole batch (``bool(done.all())``), which
    vmap cannot evaluate per element; the vmap rule instead runs the sampler on the batched
    tensors themselves. The draws are not differentiable (the gradient is _ImplicitS's).
    """

    @staticmethod
    def forward(kappa: Tensor, token: Tensor, dim: int, proposals: int,  # type: ignore[override]
                max_rounds: int) -> Tensor:
        return _wood_sample(dim, kappa, proposals, max_rounds)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        ctx.mark_non_differentiable(output)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, ...]:  # type: ignore[override]
        return (None,) * 5

    @staticmethod
    def vmap(info, in_dims, kappa: Tensor, token: Tensor, dim: int, proposals: int,  # type: ignore[override]
             max_rounds: int) -> tuple[Tensor, int]:
        kappa_dim, token_dim = in_dims[:2]
        if info.randomness != "different":
            # "same" with κ batched (with κ not batched, vmap does not call this rule): one
            # stream of proposals cannot serve different κ in a rejection sampler
            raise RuntimeError(
                "VonMisesFisher.rsample (Wood's rejection sampler) under torch.vmap with "
                f"randomness={info.randomness!r} and a concentration that is vmapped over is not "
                "supported: use randomness='different', or a concentration shared by the batch")
        kappa = (kappa.movedim(kappa_dim, 0) if kappa_dim is not None
                 else kappa.expand(info.batch_size, *kappa.shape))
        token = (token.movedim(token_dim, 0) if token_dim is not None
                 else token.expand(info.batch_size, *token.shape))
        # through apply again, so that an enclosing vmap batches the result in turn
        return _Draw.call(kappa, token, dim, proposals, max_rounds), 0


def _wood_sample(dim: int, kappa: Tensor, proposals: int, max_rounds: int) -> Tensor:
    """wood_sample outside vmap."""
    with torch.no_grad():
        kappa = kappa.detach()
        b = (dim - 1) / (2 * kappa + torch.sqrt(4 * kappa * kappa + (dim - 1) ** 2))
        out = torch.zeros_like(kappa)
        done = torch.zeros(kappa.shape, dtype=torch.bool, device=kappa.device)
        for _ in range(max_rounds):
            s, ok = _propose(dim, kappa, b, proposals)
            first = ok.int().argmax(0, keepdim=True)  # first accepted proposal
            new = ok.any(0) & ~done
            out = torch.where(new, s.gather(0, first).squeeze(0), out)
            done = done | new
            if bool(done.all()):  # the one host synchronisation: required to guarantee exactness
                return out
    # a NaN or infinite κ (a diverged network, say) is never accepted: name it, not the sampler
    bad = ~done & ~torch.isfinite(kappa)
    if bool(bad.any()):
        raise ValueError(f"vMF sampler: the concentration is not finite in {int(bad.sum())} "
                         "element(s)")
    raise RuntimeError(f"vMF sampler: {int((~done).sum())} element(s) not accepted after "
                       f"{max_rounds} rounds of {proposals} proposals (dim={dim})")


def _tail_log_drop(dim: int, kappa: Tensor, s: Tensor, diff: Tensor) -> Tensor:
    """log g(s) - log g(s + diff), broadcasting."""
    m = (dim - 3) / 2
    drop = kappa * diff
    if m != 0:
        drop = drop - m * (torch.log1p(diff / s) + torch.log1p(-diff / (2 - s)))
    return drop


def ds_dkappa(dim: int, kappa: Tensor, s: Tensor, ratio_comp: Tensor) -> Tensor:
    """Implicit reparameterization gradient ds/dκ of vMF samples s = 1 - μᵀx (see module doc).

    All arguments broadcast to one shape; ``ratio_comp`` = B = 1 - A_p(κ) = E[s]. No grad.
    """
    m = (dim - 3) / 2
    s = s.clamp(torch.finfo(s.dtype).tiny, 2 - torch.finfo(s.dtype).eps)
    kappa, ratio_comp = kappa.expand_as(s), ratio_comp.expand_as(s)
    if m > 0:  # mode of g: root of m(2-2σ) = κσ(2-σ), written without cancellation
        right = s >= 2 * m / (kappa + m + torch.sqrt(kappa * kappa + m * m))
    elif m == 0:  # p = 3: g ∝ e^{-κσ} decreases
        right = torch.ones_like(s, dtype=torch.bool)
    else:  # p = 2: g has integrable poles at 0 and 2; take the side whose pole the map removes,
        # unless toward 0 g(σ)/g(s) would grow to e^{κs} and cancel (float32 was wrong by 100%
        # at κs ≈ 15); toward 2 the quadrature resolves (s/σ)^½ once κs ≳ 2 (measured: 1e-12)
        right = (s > 1) | (kappa * s > 3)
    sign = torch.where(right, 1.0, -1.0).to(s.dtype)
    length = torch.where(right, 2 - s, s)
    # Cut the tail where log g has dropped by _LOG_DROP: the smallest length·2^-j that does so
    # (the drop grows with the distance on the tail away from the mode), else the whole tail.
    ladder = torch.pow(2.0, -torch.arange(_LADDER, dtype=s.dtype, device=s.device))
    diff = (sign * length).unsqueeze(-1) * ladder
    drop = _tail_log_drop(dim, kappa.unsqueeze(-1), s.unsqueeze(-1), diff)
    count = (drop >= _LOG_DROP).sum(-1)
    h = -sign * length * torch.pow(2.0, -(count - 1).clamp_min(0).to(s.dtype))  # s - far end
    # σ = far + (s - far)v², so σ - s = -h(1 - v²)
    v, wts = gauss_legendre01(_NODES, s.dtype, s.device)
    h_, s_, k_, b_ = (x.unsqueeze(-1) for x in (h, s, kappa, ratio_comp))
    v2 = v * v
    diff = -h_ * (1 - v2)
    log_g = -k_ * diff  # log g(σ)/g(s)
    if m != 0:
        # (σ/s)^m (2-σ)^m/(2-s)^m: log1p of the relative change near v = 1; near v = 0, where σ
        # approaches the far end, σ = far + hv² and 2 - σ = (2 - far) - hv² directly (at a far end
        # 0 or 2, 1 - v² would cost v² its precision just where p = 2's pole weighs it).
        near = (diff.abs() <= s_ / 2) & (diff.abs() <= (2 - s_) / 2)
        lo = torch.where(near, torch.log1p(diff / s_), torch.log(((s_ - h_) + h_ * v2) / s_))
        hi = torch.where(near, torch.log1p(-diff / (2 - s_)),
                         torch.log((((2 - s_) + h_) - h_ * v2) / (2 - s_)))
        log_g = log_g + m * (lo + hi)
    integrand = (b_ - (s_ + diff)) * torch.exp(log_g) * v
    return -2 * h * (integrand @ wts)
