"""Maximum-likelihood estimators of SphericalCauchy, VonMisesFisher and PowerSpherical, as pure
tensor functions (derivations in docs/math.md, "Fitting").

Shapes: points x (..., n, p) on S^{p-1} and optional nonnegative weights (..., n) (default: all
equal); the leading dims of the two broadcast to the batch shape B, and each estimator returns
(loc, concentration) of shapes B + (p,) and B: ``rho_logit`` for spCauchy, κ for vMF and Power
Spherical. Everything runs in the dtype and on the device of x, without numpy.

``init`` = (loc, concentration) warm-starts the iterative parts (EM passes the previous iterate);
every iteration of the spCauchy and Power Spherical direction updates is accepted only if it
increases the (weighted) log-likelihood, so the result is never worse than the starting point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ..special.bessel import bessel_terms
from ..special.gamma_ratio import log_gamma_ratio
from ..special.precision import full_precision, promote
from .constraints import sphere_tolerance

Init = tuple[Tensor, Tensor] | None

_MAX_STEP = 0.5  # trust radius of the Newton steps (chart radius for spCauchy, radians for PS)
_HALVINGS = 40  # backtracking: 2^-40 of a step is below any tolerance
_CG_STEPS = 50


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1)


# Inside the estimators points are stored transposed, xt (..., p, n): sums over the p
# coordinates then add p contiguous rows, several times faster than reducing a short last axis.

def _wsum(c: Tensor, vt: Tensor) -> Tensor:
    """Σ_i c_i v_i over the points: c (..., n), vt (..., p, n) -> (..., p)."""
    return (vt @ c.unsqueeze(-1)).squeeze(-1)


def _project(xt: Tensor, u: Tensor) -> Tensor:
    """x_iᵀu for xt (..., p, n), u (..., p) -> (..., n)."""
    return (u.unsqueeze(-2) @ xt).squeeze(-2)


def _sq_norms(vt: Tensor) -> Tensor:
    """‖v_i‖² for vt (..., p, n) -> (..., n)."""
    return vt.square().sum(-2)


def check_sample(x: Tensor, weights: Tensor | None, min_points: int) -> tuple[Tensor, Tensor]:
    """Validate (x, weights); return x renormalized and weights c (B + (n,)) summing to 1."""
    if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() < 2 or x.shape[-1] < 2:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"x must be a floating-point tensor of shape (..., n, p), p ≥ 2; "
                         f"got {shape}")
    n = x.shape[-2]
    if n < min_points:
        raise ValueError(f"x: this fit needs at least {min_points} points (x.shape[-2]), got {n}")
    tol, dtype = sphere_tolerance(x.dtype), x.dtype  # of the precision the points were given in
    x = promote(x)
    # one pass for both checks: a NaN or inf anywhere makes its row's norm NaN or inf
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    if not norm.isfinite().all():
        raise ValueError("x must be finite (it contains NaN or inf)")
    if ((norm - 1).abs() > tol).any():
        raise ValueError(f"x must lie on the unit sphere: |‖x‖ - 1| ≤ {tol:.1e} "
                         f"(the tolerance of {dtype})")
    x = x / norm
    if weights is None:
        return x, torch.full(x.shape[:-1], 1.0 / n, dtype=x.dtype, device=x.device)
    w = torch.as_tensor(weights, device=x.device)
    if w.is_complex() or w.dim() < 1 or w.shape[-1] != n:
        raise ValueError(f"weights must be a real tensor of shape (..., n) with n = {n}; got "
                         f"{tuple(w.shape)}")
    try:
        batch = torch.broadcast_shapes(x.shape[:-2], w.shape[:-1])
    except RuntimeError as err:
        raise ValueError(f"weights: leading dims {tuple(w.shape[:-1])} do not broadcast with x's "
                         f"{tuple(x.shape[:-2])}") from err
    w = w.to(x.dtype)
    if not w.isfinite().all():
        raise ValueError("weights must be finite (they contain NaN or inf)")
    if (w < 0).any():
        raise ValueError("weights must be nonnegative")
    total = w.sum(-1, keepdim=True)
    if (total <= 0).any():
        raise ValueError("weights must not be all zero (in every batch entry)")
    return x, (w / total).expand(*batch, n)


def _mean_resultant(xt: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean direction, R̄ = ‖x̄‖ and 1 - R̄ for x̄ = Σ c x (xt (..., p, n)).

    From Σ c‖x - x̄‖² = 1 - R̄² on the sphere, which keeps its relative accuracy as R̄ → 1, where
    1 - ‖x̄‖ would keep only the digits of ‖x̄‖ that the points do not share.
    """
    xbar = _wsum(c, xt)
    r = torch.linalg.vector_norm(xbar, dim=-1)
    if (r >= 0.7).any():  # 1 - R̄² < 0.51 somewhere: from the deviations (one more pass)
        one_m_r2 = (c * _sq_norms(xt - xbar.unsqueeze(-1))).sum(-1)
    else:  # 1 - R̄² ≥ 0.51 everywhere: the difference loses at most a bit
        one_m_r2 = 1 - r * r
    r, r_bar = _radius(r, one_m_r2)
    first = torch.zeros_like(xbar)
    first[..., 0] = 1  # R̄ = 0: any direction is a maximizer
    loc = torch.where((r > 0).unsqueeze(-1), xbar / r.clamp_min(torch.finfo(r.dtype).tiny)
                      .unsqueeze(-1), first)
    return loc, r, r_bar


def _radius(r: Tensor, one_m_r2: Tensor) -> tuple[Tensor, Tensor]:
    """(r, 1 - r) from a directly computed r and an accurate 1 - r²: above r = 1/2 r is
    rederived as √(1 - (1-r²)), so the two agree and r's rounding (amplified by up to 3x per
    inward Möbius step near the boundary) never accumulates."""
    big = one_m_r2 < 0.75
    r = torch.where(big, torch.sqrt((1 - one_m_r2).clamp_min(0)), r)
    return r, one_m_r2 / (1 + r)


def _coincident(r_bar: Tensor) -> None:
    """Raise where 1 - R̄ (or the PS τ) is at rounding level: points within eps of each other."""
    if (r_bar <= torch.finfo(r_bar.dtype).eps ** 2).any():
        raise ValueError("x: all points with positive weight coincide; the maximum-likelihood "
                         "estimate does not exist (infinite concentration)")


def _cg(matvec: Callable[[Tensor], Tensor], b: Tensor, steps: int) -> Tensor:
    """Truncated conjugate gradients for A v = b (A symmetric; batched over b's leading dims).

    Stops per batch entry at relative residual √eps, after ``steps`` steps, or at the first
    nonpositive curvature dᵀAd ≤ 0 (keeping the iterate so far). Every iterate started at 0
    satisfies bᵀv > 0, so v is an ascent direction of the model gradient b; where the very first
    step meets nonpositive curvature, b itself is returned.
    """
    v = torch.zeros_like(b)
    r, d = b, b
    rr = _dot(r, r)
    stop = rr * torch.finfo(b.dtype).eps
    active = rr > 0
    for _ in range(steps):
        ad = matvec(d)
        dad = _dot(d, ad)
        active = active & (dad > 0)
        alpha = torch.where(active, rr / torch.where(active, dad, 1.0), 0.0).unsqueeze(-1)
        v = v + alpha * d
        r = r - alpha * ad
        rr_new = _dot(r, r)
        active = active & (rr_new > stop)
        if not active.any():
            break
        beta = torch.where(active, rr_new / torch.where(active, rr, 1.0), 0.0).unsqueeze(-1)
        d = r + beta * d
        rr = rr_new
    return torch.where((v == 0).all(-1, keepdim=True), b, v)


def _clip(v: Tensor, radius: float) -> Tensor:
    norm = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    return v * (radius / norm.clamp_min(radius))


def _backtrack(gain: Callable[[Tensor], Tensor], active: Tensor, final: Tensor,
               dtype: torch.dtype) -> Tensor:
    """Largest t ∈ {1, 1/2, 1/4, ...} with gain(t) > 0 per batch entry, 0 where none is found or
    ``active`` is False; NaN gains count as losses. ``final`` steps (Newton steps below the
    tolerance, whose gain O(step²) is at the level of rounding) are taken whole, untested: they
    leave the log-likelihood unchanged to rounding and make the estimate exact to O(eps)."""
    t = active.to(dtype)
    for _ in range(_HALVINGS):
        bad = (t > 0) & ~final & ~(gain(t) > 0)
        if not bad.any():
            return t
        t = torch.where(bad, t / 2, t)
    return torch.where((t > 0) & ~final & ~(gain(t) > 0), 0.0, t)


# --------------------------------------------------------------------------- spherical Cauchy

class _Chart(NamedTuple):
    """The points moved by the Möbius map φ_w that sends w = ρμ to 0 (uniform on the sphere when
    x ~ spCauchy(w)), kept factored as y = α(x - μ) + βμ with per-point α, β (..., n) and
    dx = x - μ (..., p, n): y itself is never formed, which saves most passes over the data."""

    dx: Tensor
    alpha: Tensor
    beta: Tensor
    loc: Tensor

    def project(self, u: Tensor) -> Tensor:
        """y_iᵀu, (..., n)."""
        return self.alpha * _project(self.dx, u) + self.beta * _dot(self.loc, u).unsqueeze(-1)

    def wsum(self, a: Tensor) -> Tensor:
        """Σ_i a_i y_i, (..., p)."""
        return _wsum(a * self.alpha, self.dx) + (a * self.beta).sum(-1, keepdim=True) * self.loc


def _chart(xt: Tensor, loc: Tensor, rho: Tensor, rho_bar: Tensor) -> _Chart:
    """y = φ_w(x) = (1-‖w‖²)(x - w)/‖x - w‖² - w = s(x - μ) + (s(1-ρ) - ρ)μ with
    s = (1-‖w‖²)/‖x - w‖² and ‖x - w‖² = (1-ρ)² + ρ‖x - μ‖², so nothing cancels near ρ = 1.
    Divided by ‖y‖ (1 up to the rounding of the data, which φ_w amplifies by up to
    (1+ρ)/(1-ρ) near the mode), from ‖y‖² = s²‖x-μ‖² + 2sγ μᵀ(x-μ) + γ², γ = s(1-ρ) - ρ."""
    dx = xt - loc.unsqueeze(-1)
    d2 = _sq_norms(dx)
    rho_, rho_bar_ = rho.unsqueeze(-1), rho_bar.unsqueeze(-1)
    s = rho_bar_ * (1 + rho_) / (rho_bar_.square() + rho_ * d2).clamp_min(
        torch.finfo(xt.dtype).tiny)
    g = s * rho_bar_ - rho_
    norm = torch.sqrt(s * s * d2 + 2 * s * g * _project(dx, loc) + g * g)
    return _Chart(dx, s / norm, g / norm, loc)


def _chart_gain(y: _Chart, c: Tensor, v: Tensor) -> Tensor:
    """ℓ(w ⊕ v) - ℓ(w), divided by p-1: Σ c [log(1-‖v‖²) - log‖y - v‖²] for the points y moved
    to the chart at w (Möbius invariance); ‖v‖ ≤ 1/2 keeps every term well conditioned."""
    vv = _dot(v, v)
    return (c * (torch.log1p(-vv).unsqueeze(-1) - torch.log1p(vv.unsqueeze(-1)
                                                              - 2 * y.project(v)))).sum(-1)


def _mobius_add(loc: Tensor, rho: Tensor, rho_bar: Tensor, v: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
    """w ⊕ v = φ_w^{-1}(v) = ((1 + 2wᵀv + ‖v‖²)w + (1-‖w‖²)v) / (‖w+v‖² + (1-‖w‖²)(1-‖v‖²)),
    returned as (μ', ρ', 1-ρ') from 1-‖w'‖² = (1-‖w‖²)(1-‖v‖²)/den: no cancellation near ρ = 1."""
    w = rho.unsqueeze(-1) * loc
    wv, vv = _dot(w, v), _dot(v, v)
    one_m = rho_bar * (1 + rho)
    num = (1 + 2 * wv + vv).unsqueeze(-1) * w + one_m.unsqueeze(-1) * v
    den = (rho.square() + 2 * wv + vv) + one_m * (1 - vv)
    norm = torch.linalg.vector_norm(num, dim=-1)
    rho_new, rho_bar_new = _radius(norm / den, one_m * (1 - vv) / den)
    rho_bar_new = rho_bar_new.clamp_min(torch.finfo(rho.dtype).tiny)
    loc_new = torch.where((norm > 0).unsqueeze(-1), num / norm.clamp_min(
        torch.finfo(rho.dtype).tiny).unsqueeze(-1), loc)
    return loc_new, rho_new, rho_bar_new


@torch.no_grad()
@full_precision
def fit_spcauchy(x: Tensor, weights: Tensor | None = None, *, init: Init = None,
                 max_iter: int = 100, tol: float | None = None) -> tuple[Tensor, Tensor]:
    """MLE (loc, rho_logit) of spCauchy(μ, ρ) for x (..., n, p), n ≥ 3.

    Newton's method for w = ρμ in the Möbius chart at the current iterate: the points moved by
    the map that sends w to 0 give ȳ = Σ c y, S = Σ c yyᵀ and the step v = (I - S)⁻¹ȳ/2
    (truncated conjugate gradients, trust radius 1/2), accepted as w ⊕ tv with the largest
    t ∈ {1, 1/2, ...} that increases the log-likelihood. Stops when ‖tv‖ ≤ ``tol``
    (default √eps, after which the error is O(eps)) or after ``max_iter`` steps. Starts at the
    weighted mean x̄ unless ``init`` = (loc, rho_logit) is given.

    The MLE exists and is unique unless half or more of the weight sits on one point or all of
    it on two (Kato & McCullagh 2020); then the iterates run to the boundary (ρ → 1) until
    ``max_iter``.
    """
    x, c = check_sample(x, weights, 3)
    batch, p = c.shape[:-1], x.shape[-1]
    xt = x.mT.contiguous()
    if init is None:
        loc, rho, rho_bar = _mean_resultant(xt, c)
        _coincident(rho_bar)
    else:
        loc = init[0].to(x).expand(*batch, p)
        logit = torch.as_tensor(init[1]).to(x).expand(batch)
        loc, rho, rho_bar = loc, torch.sigmoid(logit), torch.sigmoid(-logit)
    tol = math.sqrt(torch.finfo(x.dtype).eps) if tol is None else tol
    active = torch.ones(batch, dtype=torch.bool, device=x.device)
    for _ in range(max_iter):
        y = _chart(xt, loc, rho, rho_bar)

        def matvec(u: Tensor, y: _Chart = y) -> Tensor:
            return u - y.wsum(c * y.project(u))  # (I - S)u

        v = _clip(_cg(matvec, y.wsum(c) / 2, min(p, _CG_STEPS)), _MAX_STEP)
        final = torch.linalg.vector_norm(v, dim=-1) <= tol
        t = _backtrack(lambda t, y=y, v=v: _chart_gain(y, c, t.unsqueeze(-1) * v), active,
                       final, x.dtype)
        step = t.unsqueeze(-1) * v
        loc, rho, rho_bar = _mobius_add(loc, rho, rho_bar, step)
        active = active & ~final & (torch.linalg.vector_norm(step, dim=-1) > tol)
        if not active.any():
            break
    return loc, torch.log(rho) - torch.log(rho_bar)


# ------------------------------------------------------------------------- 1-D root finding

def _newton_increasing(fun: Callable[[Tensor], tuple[Tensor, Tensor]], z: Tensor, lo: float,
                       scale: float, max_iter: int = 60, max_step: float = math.inf) -> Tensor:
    """Root of an increasing function f(z) = fun(z)[0] (fun also returns f'), batched.

    Newton steps (at most ``max_step`` long) inside the bracket of the points evaluated so far
    (starting from (lo, ∞)), bisecting where a step would leave it; stops per entry once a step
    is below √eps·(|z| + scale) (the error after it is O(eps)).
    """
    tol = math.sqrt(torch.finfo(z.dtype).eps)
    lo_t = torch.full_like(z, lo)
    hi_t = torch.full_like(z, math.inf)
    done = torch.zeros_like(z, dtype=torch.bool)
    for _ in range(max_iter):
        f, df = fun(z)
        lo_t = torch.where(f <= 0, torch.maximum(lo_t, z), lo_t)
        hi_t = torch.where(f >= 0, torch.minimum(hi_t, z), hi_t)
        new = z - (f / df).clamp(-max_step, max_step)
        inside = (new > lo_t) & (new < hi_t)
        bracketed = lo_t.isfinite() & hi_t.isfinite()
        new = torch.where(inside, new, torch.where(bracketed, (lo_t + hi_t) / 2, z))
        new = torch.where(done, z, new)
        done = done | ((new - z).abs() <= tol * (z.abs() + scale)) | (f == 0)
        z = new
        if done.all():
            break
    return z


# ------------------------------------------------------------------------------ von Mises–Fisher

@torch.no_grad()
@full_precision
def fit_vmf(x: Tensor, weights: Tensor | None = None, *, init: Init = None,
            max_iter: int = 60) -> tuple[Tensor, Tensor]:
    """MLE (loc, κ) of vMF(μ, κ) for x (..., n, p), n ≥ 2.

    μ = x̄/‖x̄‖; κ solves A_p(κ) = R̄ (A_p = I_{p/2}/I_{p/2-1}), by Newton's method in log κ on
    log A(κ) = log R̄ for R̄ < 1/2 and on log(1-A(κ)) = log(1-R̄) above, both nearly linear in
    log κ at their end of the range, from Banerjee et al.'s (2005) R̄(p - R̄²)/(1 - R̄²) (or
    ``init``'s κ) and kept inside a bracket. Stable for p up to 10⁴ and κ up to 10⁸.
    """
    x, c = check_sample(x, weights, 2)
    loc, r, r_bar = _mean_resultant(x.mT, c)
    _coincident(r_bar)
    p = x.shape[-1]
    nu = p / 2 - 1
    tiny = torch.finfo(x.dtype).tiny
    if init is None:
        kappa0 = r * (p - r * r) / (r_bar * (1 + r))
    else:
        kappa0 = torch.as_tensor(init[1]).to(x).expand(r.shape)
    small = r < 0.5
    log_target = torch.where(small, torch.log(r.clamp_min(tiny)), torch.log(r_bar))

    def fun(s: Tensor) -> tuple[Tensor, Tensor]:
        t = bessel_terms(nu, torch.exp(s))
        a = torch.where(small, t.ratio, t.ratio_comp)  # A or 1 - A
        f = torch.where(small, torch.log(a) - log_target, log_target - torch.log(a))
        return f, t.kappa_dratio / a

    s = _newton_increasing(fun, torch.log(kappa0.clamp_min(tiny)), -math.inf, 1.0, max_iter,
                           max_step=10.0)
    return loc, torch.where(r > 0, torch.exp(s), 0.0)


# ------------------------------------------------------------------------------ Power Spherical

def _one_plus_cos(xt: Tensor, loc: Tensor) -> Tensor:
    """1 + μᵀx = 2 - ‖x-μ‖²/2 near μ, ‖x+μ‖²/2 near -μ (no cancellation at either). (..., n)."""
    loc_ = loc.unsqueeze(-1)
    d2 = _sq_norms(xt - loc_)
    return torch.where(d2 <= 2, 2 - d2 / 2, _sq_norms(xt + loc_) / 2)


def _ps_direction(xt: Tensor, c: Tensor, loc: Tensor, max_iter: int, tol: float) -> Tensor:
    """argmax over unit μ of Σ c log(1 + μᵀx) (the PS MLE of μ for every κ > 0).

    Riemannian Newton on the sphere: with h = c/(1+μᵀx), g = Σ h x and λ = μᵀg, the gradient is
    (I - μμᵀ)g and minus the Hessian is ξ ↦ (I - μμᵀ)Σ (h/(1+μᵀx)) x xᵀξ + λξ on the tangent
    space; the step (truncated CG, at most 1/2 radian) is retracted as (μ + tξ)/‖μ + tξ‖ with the
    largest t ∈ {1, 1/2, ...} whose gain Σ c log1p((μ'-μ)ᵀx / (1+μᵀx)) is positive.
    """
    p = xt.shape[-2]
    active = torch.ones(c.shape[:-1], dtype=torch.bool, device=xt.device)
    for _ in range(max_iter):
        # 1 + μᵀx from the product (no pass over (..., p, n)): accurate to eps relative to 2,
        # which is all the weights h and the gains need; floored at eps so that a point at
        # exactly -μ (log-likelihood -inf) cannot make the step NaN
        one_p = (1 + _project(xt, loc)).clamp_min(torch.finfo(xt.dtype).eps)
        h = c / one_p
        g = _wsum(h, xt)
        lam = _dot(g, loc).unsqueeze(-1)
        h2 = h / one_p

        def matvec(u: Tensor, h2: Tensor = h2, lam: Tensor = lam, loc: Tensor = loc) -> Tensor:
            hu = _wsum(h2 * _project(xt, u), xt)
            return hu - _dot(hu, loc).unsqueeze(-1) * loc + lam * u

        xi = _clip(_cg(matvec, g - lam * loc, min(p - 1, _CG_STEPS)), _MAX_STEP)

        def moved(t: Tensor, xi: Tensor = xi, loc: Tensor = loc) -> Tensor:
            m = loc + t.unsqueeze(-1) * xi
            return m / torch.linalg.vector_norm(m, dim=-1, keepdim=True)

        def gain(t: Tensor, one_p: Tensor = one_p, loc: Tensor = loc, moved=moved) -> Tensor:
            return (c * torch.log1p(_project(xt, moved(t) - loc) / one_p)).sum(-1)

        final = torch.linalg.vector_norm(xi, dim=-1) <= tol
        t = _backtrack(gain, active, final, xt.dtype)
        new = moved(t)
        active = active & ~final & (torch.linalg.vector_norm(new - loc, dim=-1) > tol)
        loc = new
        if not active.any():
            break
    return loc


@torch.no_grad()
@full_precision
def fit_power(x: Tensor, weights: Tensor | None = None, *, init: Init = None,
              max_iter: int = 100, tol: float | None = None) -> tuple[Tensor, Tensor]:
    """MLE (loc, κ) of PS(μ, κ) for x (..., n, p), n ≥ 2.

    The log-likelihood n log C(κ) + κ Σ c log(1 + μᵀx) separates: μ̂ maximizes Σ c log(1 + μᵀx)
    for every κ > 0 (``_ps_direction``, from the mean direction or ``init``'s loc; it is not the
    mean direction in general), and κ̂ solves the concave score equation D'(β + κ) = τ with
    τ = -Σ c log((1 + μ̂ᵀx)/2), D(a) = lgamma(a+β) - lgamma(a), β = (p-1)/2; κ̂ = 0 when
    τ ≥ D'(β). Newton's method runs on 1/D'(β+κ) = 1/τ, linear in κ up to O(1/κ²).
    """
    x, c = check_sample(x, weights, 2)
    p = x.shape[-1]
    xt = x.mT.contiguous()
    if init is None:
        loc0, _, r_bar = _mean_resultant(xt, c)
        _coincident(r_bar)
    else:
        loc0 = init[0].to(x).expand(*c.shape[:-1], p)
    tol = math.sqrt(torch.finfo(x.dtype).eps) if tol is None else tol
    loc = _ps_direction(xt, c, loc0, max_iter, tol)
    one_p = _one_plus_cos(xt, loc)
    tau = -(c * torch.log(one_p / 2)).sum(-1)
    _coincident(tau)
    beta = (p - 1) / 2
    d1_zero = log_gamma_ratio(torch.tensor(beta, dtype=x.dtype, device=x.device), beta)[1]
    uniform = tau >= d1_zero
    if init is None:  # ψ(a+β) - ψ(a) ≈ log((a+β-½)/(a-½)) inverted
        kappa0 = (0.5 + beta / torch.expm1(tau) - beta).clamp_min(0)
    else:
        kappa0 = torch.as_tensor(init[1]).to(x).expand(tau.shape)
    inv_tau = 1 / tau

    def fun(k: Tensor) -> tuple[Tensor, Tensor]:
        _, d1, d2 = log_gamma_ratio(k.clamp_min(0) + beta, beta)
        return 1 / d1 - inv_tau, -d2 / (d1 * d1)

    kappa = _newton_increasing(fun, torch.where(uniform, 0.0, kappa0), 0.0, beta)
    return loc, torch.where(uniform, 0.0, kappa)
