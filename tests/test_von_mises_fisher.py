"""VonMisesFisher: reference values, the sampler at large concentration, unbiased gradients.

Shapes, expand, validation, the support, Monte-Carlo moments and KL, gradcheck and the sampler's
goodness of fit on the exact law of μᵀx are checked for every family in test_conformance.py.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import mpmath as mp
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from spcauchy import HypersphericalUniform, VonMisesFisher
from spcauchy.distributions.uniform import log_sphere_area
from spcauchy.special.bessel import bessel_terms
from spcauchy.special.vmf_sampling import ds_dkappa, wood_sample

REF = list(csv.DictReader((Path(__file__).parent / "data" / "baseline_reference.csv").open()))


def _loc(p: int, batch: tuple[int, ...] = (), dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(p)
    return F.normalize(torch.randn(*batch, p, generator=g, dtype=dtype), dim=-1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_kl_entropy_log_prob_match_reference(dtype: torch.dtype) -> None:
    tol = {torch.float64: 1e-10, torch.float32: 1e-4}[dtype]
    for p in sorted({int(r["p"]) for r in REF}):
        rows = [r for r in REF if int(r["p"]) == p]
        kappa = torch.tensor([float(r["kappa"]) for r in rows], dtype=dtype)
        kl_ref = torch.tensor([float(r["kl_vmf"]) for r in rows], dtype=torch.float64)
        q = VonMisesFisher(_loc(p, dtype=dtype).expand(len(rows), p), kappa)
        kl = kl_divergence(q, HypersphericalUniform(p)).double()
        assert kl.isfinite().all()
        err = ((kl - kl_ref).abs() / kl_ref.abs().clamp_min(1e-300)).where(kl_ref > 0, kl.abs())
        assert err.max() <= tol, (p, err.max().item())
        # log-density at the mode: -log|S| - (log f - κ)
        ls_ref = torch.tensor([float(r["log_f_scaled"]) for r in rows], dtype=torch.float64)
        lp = q.log_prob(q.loc).double()
        torch.testing.assert_close(lp, -log_sphere_area(p) - ls_ref, rtol=tol, atol=tol)
        ent = q.entropy().double()
        torch.testing.assert_close(ent, log_sphere_area(p) - kl_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", [3, 10, 800])
def test_sampler_moments_at_large_concentration(p: int, dtype: torch.dtype) -> None:
    """E[κs] and E[(κs)²] for s = 1 - μᵀx at κ ∈ {1e4, 1e6, 1e8}, within 5 standard errors of
    κB and κ²(A' + B²) (B = 1 - A_p(κ) and A' from the float64 Bessel terms), both for the
    sampler's s and for the angle of rsample's x to μ (1 - cos = ‖x̂ - μ̂‖²/2, in float64 from
    the returned vectors). In float32, 1 - (1-b)z rounded for κ ≳ 1e7 (E[κs] = 18.7 instead of
    1.0 at p = 3, κ = 1e8) and at p = 800, κ = 1e8 the sampler raised (no proposal accepted)."""
    n = 20_000 if p < 800 else 4_000
    loc = _loc(p, dtype=dtype)
    loc_hat = loc.double() / loc.double().norm()
    for kappa in (1e4, 1e6, 1e8):
        k = torch.tensor(kappa, dtype=torch.float64)
        t = bessel_terms(p / 2 - 1, k)
        moments = (kappa * t.ratio_comp, kappa * t.kappa_dratio + (kappa * t.ratio_comp) ** 2)
        torch.manual_seed(int(math.log10(kappa)) + p)
        s = wood_sample(p, torch.full((n,), kappa, dtype=dtype)).double()
        x = VonMisesFisher(loc, torch.tensor(kappa, dtype=dtype)).rsample((n,)).double()
        angle = (x / x.norm(dim=-1, keepdim=True) - loc_hat).square().sum(-1) / 2
        for sample in (s, angle):
            assert sample.isfinite().all() and (sample >= 0).all()
            for j, exact in enumerate(moments, start=1):
                values = (kappa * sample) ** j
                se = values.std() / math.sqrt(n)
                assert abs(values.mean() - exact) <= 5 * se, (kappa, j, values.mean(), exact)


def _central_difference(f, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fourth-order central difference of f (batch, m) along x (batch,), and its rounding bound
    (8 ulp of max|f| per evaluation, summed over the stencil weights 18/12h)."""
    h_ = h.unsqueeze(-1)
    vals = [f(x + j * h) for j in (-2, -1, 1, 2)]
    fd = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h_)
    scale = torch.stack(vals).abs().amax(0)
    return fd, 8 * torch.finfo(x.dtype).eps * scale * 18 / (12 * h_)


@pytest.mark.parametrize("p", [3, 5, 10, 100])
def test_variance_gradient_matches_finite_differences(p: int) -> None:
    """d Var[x]/dκ by autograd, on both the axial (Var μᵀx = A') and the transverse (A/κ)
    component, against finite differences in float64 for κ ∈ [1e-3, 1e7]. The Bessel terms used
    to enter detached: -0.0153 instead of -0.0286 for the axial part at p = 3, κ = 4."""
    kappa = torch.logspace(-3, 7, 31, dtype=torch.float64)
    loc = torch.eye(p, dtype=torch.float64)[0].expand(31, p)  # components 0, 1: axial, transverse
    k = kappa.clone().requires_grad_()
    var = VonMisesFisher(loc, k).variance
    grad = torch.stack([torch.autograd.grad(var[:, i].sum(), k, retain_graph=True)[0]
                        for i in (0, 1)], -1)
    h = torch.minimum(1e-3 * kappa.clamp_min(p), kappa / 4)
    fd, rounding = _central_difference(lambda kk: VonMisesFisher(loc, kk).variance[:, :2],
                                       kappa, h)
    assert ((grad - fd).abs() <= 1e-7 * fd.abs() + rounding).all()
    assert (grad < 0).all()  # both components decrease in κ


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_moments_near_zero_concentration_reach_the_limit(dtype: torch.dtype) -> None:
    """For κ below √eps (down to subnormal κ) Var μᵀx = A', E[1-(μᵀx)²]/(p-1) = A/κ and
    dA/dκ equal their κ → 0 limit 1/p to rounding: P/κ and A/κ of near-underflow numbers were
    off by orders of magnitude (2e-4 instead of 0.2 at p = 5, subnormal κ)."""
    p = 5
    tiny, eps = torch.finfo(dtype).tiny, torch.finfo(dtype).eps
    kappa = torch.tensor([tiny / 1024, tiny, 1e-30, eps, 0.5 * eps**0.5], dtype=dtype,
                         requires_grad=True)
    q = VonMisesFisher(torch.eye(p, dtype=dtype)[0].expand(5, p), kappa)
    (grad,) = torch.autograd.grad(q.mean_resultant_length.sum(), kappa)
    for t in (q.variance[:, 0], q.variance[:, 1], grad):
        torch.testing.assert_close(t, torch.full_like(t, 1 / p), rtol=4 * eps, atol=0)


@pytest.mark.parametrize(("p", "kappa"), [(5, 2.0), (10, 5.0), (3, 1.5), (2, 4.0)])
def test_pathwise_gradient_is_unbiased(p: int, kappa: float) -> None:
    """d E[μᵀz]/dκ must equal A'(κ) = κA'/κ from the Bessel terms (the known-biased estimator
    of the usual implementation gives 0.1277 instead of 0.1474 at p = 5, κ = 2)."""
    torch.manual_seed(3)
    n = 100_000
    loc = _loc(p)
    k = torch.full((n,), kappa, dtype=torch.float64, requires_grad=True)
    z = VonMisesFisher(loc.expand(n, p), k).rsample()
    (z @ loc).sum().backward()
    g = k.grad
    exact = bessel_terms(p / 2 - 1, torch.tensor(kappa, dtype=torch.float64)).kappa_dratio / kappa
    assert abs(g.mean() - exact) <= 4 * g.std() / math.sqrt(n)


def _ds_dkappa_reference(p: int, kappa: float, s: float) -> tuple[float, float]:
    """(ds/dκ, B) by 30-digit quadrature: ∫_s^2 (B - σ) g(σ)/g(s) dσ, g = e^{-κσ}(σ(2-σ))^m."""
    with mp.workdps(30):
        m, k, s_ = mp.mpf(p - 3) / 2, mp.mpf(kappa), mp.mpf(s)

        def g(x):  # 0 at an exact endpoint, where p = 2's integrable pole has no value
            return mp.exp(-k * (x - s_)) * (x * (2 - x)) ** m if 0 < x < 2 else mp.mpf(0)

        pts = sorted({mp.mpf(0), mp.mpf(2), s_, *(s_ + mp.mpf(j) / k for j in (1, 5, 20, 60)
                                                   if s_ + mp.mpf(j) / k < 2)})
        b = mp.quad(lambda x: x * g(x), pts) / mp.quad(g, pts)
        value = mp.quad(lambda x: (b - x) * g(x), [x for x in pts if x >= s_]) / g(s_)
        return float(value), float(b)


def test_implicit_gradient_p2_matches_quadrature_in_both_precisions() -> None:
    """p = 2 (poles of the marginal at s = 0 and 2) over κs from 0.1 to 40 and s > 1: float64
    against mpmath quadrature (relative 1e-10), and float32 against float64 on the same inputs
    (relative 100 eps). Integrating toward s = 0 up to κs = 20 cancelled by e^{κs}: float32 was
    wrong by 14% at κs = 15 and by a factor 280 at κs ≈ 20."""
    for kappa in (0.3, 30.0, 1e4, 1e8):
        ks = torch.tensor([0.1, 1.0, 2.9, 3.1, 7.0, 15.0, 19.9, 40.0], dtype=torch.float64)
        s = (ks / kappa).clamp_max(1.9)
        if kappa < 1:
            s = torch.tensor([0.05, 0.6, 1.2, 1.97], dtype=torch.float64)
        refs = [_ds_dkappa_reference(2, kappa, v) for v in s.tolist()]
        ref = torch.tensor([r for r, _ in refs], dtype=torch.float64)
        b = torch.tensor([b for _, b in refs], dtype=torch.float64)
        k = torch.full_like(s, kappa)
        torch.testing.assert_close(ds_dkappa(2, k, s, b), ref, rtol=1e-10, atol=0)
        s32, b32 = s.float(), b.float()
        got = ds_dkappa(2, k.float(), s32, b32).double()
        same_inputs = ds_dkappa(2, k, s32.double(), b32.double())
        torch.testing.assert_close(got, same_inputs, rtol=100 * torch.finfo(torch.float32).eps,
                                   atol=0)


def test_implicit_gradient_matches_p3_inverse_cdf() -> None:
    """For p = 3, s = -log(u + (1-u)e^{-2κ})/κ exactly; its derivative at fixed u is the truth."""
    kappa = torch.tensor([0.01, 0.7, 4.0, 60.0, 3e3], dtype=torch.float64).repeat_interleave(3)
    u = torch.tensor([0.05, 0.5, 0.97], dtype=torch.float64).repeat(5)
    k = kappa.clone().requires_grad_()
    s = -torch.log(u + (1 - u) * torch.exp(-2 * k)) / k
    (exact,) = torch.autograd.grad(s.sum(), k)
    b = bessel_terms(0.5, kappa).ratio_comp
    torch.testing.assert_close(ds_dkappa(3, kappa, s.detach(), b), exact, rtol=1e-9, atol=0)


def test_loc_gradient_flows_and_is_finite() -> None:
    torch.manual_seed(4)
    for dtype in (torch.float32, torch.float64):
        direction = torch.randn(64, 9, dtype=dtype, requires_grad=True)
        kappa = torch.logspace(-3, 8, 64, dtype=dtype).requires_grad_()
        q = VonMisesFisher(F.normalize(direction, dim=-1), kappa)
        loss = q.rsample().sum() + kl_divergence(q, HypersphericalUniform(9)).sum()
        loss = loss + q.log_prob(q.rsample()).sum()
        loss.backward()
        assert direction.grad.isfinite().all() and kappa.grad.isfinite().all()


def test_float32_extremes_never_nan() -> None:
    for p in (2, 3, 64, 1000, 10000):
        kappa = torch.tensor([0.0, 1e-6, 1.0, 1e3, 1e6, 1e8])
        q = VonMisesFisher(_loc(p, (6,), torch.float32), kappa)
        x = q.rsample((4,))
        for t in (x, q.log_prob(x), q.entropy(), q.mean, q.variance,
                  kl_divergence(q, HypersphericalUniform(p))):
            assert t.isfinite().all(), p


def test_sampler_raises_instead_of_returning_unaccepted() -> None:
    with pytest.raises(RuntimeError, match="not accepted"):
        wood_sample(5, torch.full((1000,), 2.0), proposals=1, max_rounds=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", [3, 9])
def test_draws_at_the_poles_have_finite_gradients(monkeypatch, p: int, dtype: torch.dtype) -> None:
    # a float32 draw rounds to s = 2 about once in 10⁸ on S^2 at κ = 1; such a draw once made
    # every weight of a training run NaN. Force the poles and check the gradients stay finite.
    poles = torch.tensor([0.0, 2.0, 0.5], dtype=dtype)
    monkeypatch.setattr("spcauchy.distributions.von_mises_fisher.wood_sample",
                        lambda dim, kappa: poles.expand_as(kappa))
    direction = torch.randn(3, p, dtype=dtype, requires_grad=True)
    kappa = torch.tensor([1.0, 1.0, 5.0], dtype=dtype, requires_grad=True)
    x = VonMisesFisher(F.normalize(direction, dim=-1), kappa).rsample()
    torch.testing.assert_close((1 - (x * F.normalize(direction, dim=-1)).sum(-1)).detach(), poles,
                               atol=1e-6, rtol=0)
    (x * torch.randn_like(x)).sum().backward()
    assert direction.grad.isfinite().all() and kappa.grad.isfinite().all()
    assert kappa.grad[2] != 0  # away from the poles the gradient is not cut


def test_sampler_names_a_non_finite_concentration() -> None:
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="not finite in 1 element"):
            wood_sample(3, torch.tensor([1.0, bad]))
