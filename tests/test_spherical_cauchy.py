"""SphericalCauchy: the two parameterizations, the sampler at extreme concentrations, the
log-density formula, gradients, the fused latent layer, KL between two spCauchy, special cases.

Shapes, broadcasting, expand, dtypes and devices, argument validation, the support, Monte-Carlo
mean, variance, entropy, KL and normalization, gradcheck of rsample and log_prob, and the
sampler's goodness of fit on the exact law of μᵀx are checked for every family in
test_conformance.py.

Statistical tolerance policy: every random test is seeded. Monte-Carlo estimates must lie within
5 standard errors of the exact value (a two-sided 5.7e-7 event per comparison for a Gaussian
estimate, so a failure means a wrong formula, not bad luck); standard errors are estimated from
the same samples. Deterministic identities use tolerances tied to the dtype's machine epsilon,
stated next to each check.
"""

from __future__ import annotations

import math

import mpmath as mp
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import kl_divergence

from spcauchy import HypersphericalUniform, SphericalCauchy, spcauchy_kl_uniform, spcauchy_latent
from spcauchy.distributions.uniform import log_sphere_area
from spcauchy.latents.fused import _Latent
from spcauchy.special.mobius import mobius_sample

F64, F32 = torch.float64, torch.float32
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SE = 5.0  # Monte-Carlo comparisons: |estimate - exact| ≤ 5 standard errors


def _loc(p: int, batch: tuple[int, ...] = (), dtype: torch.dtype = F64, seed: int = 0
         ) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 * seed + p)
    return F.normalize(torch.randn(*batch, p, generator=g, dtype=F64), dim=-1).to(dtype)


def _uniform(shape: tuple[int, ...], p: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, p, generator=g, dtype=dtype), dim=-1)


def _within_se(samples: torch.Tensor, exact: torch.Tensor | float, dim: int = 0) -> bool:
    """|mean - exact| ≤ 5 standard errors, elementwise over the non-sample axes."""
    n = samples.shape[dim]
    mean, se = samples.mean(dim), samples.std(dim) / math.sqrt(n)
    return bool(((mean - exact).abs() <= SE * se).all())


# ---------------------------------------------------------------------------------------------
# the two parameterizations
# ---------------------------------------------------------------------------------------------


def test_rho_and_rho_logit_describe_the_same_distribution() -> None:
    # 1e-12: the logit round trip
    p = 4
    conc = torch.tensor([0.1, 0.5, 0.9, 0.05, 0.3], dtype=F64)
    by_rho = SphericalCauchy(_loc(p, (3, 1)), conc)
    by_logit = SphericalCauchy(_loc(p, (3, 1)), rho_logit=torch.logit(conc))
    x = by_rho.rsample((2, 6))
    for f in (lambda d: d.log_prob(x), lambda d: d.entropy(), lambda d: d.mean,
              lambda d: d.variance):
        torch.testing.assert_close(f(by_rho), f(by_logit), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("param", ["rho", "rho_logit"])
def test_expand_keeps_the_given_parameterization(param: str) -> None:
    # the logit stays the parameter after expand, so it stays exact near ρ = 1
    conc = torch.tensor([0.2, 0.7], dtype=F64)
    kw = {param: conc if param == "rho" else torch.logit(conc)}
    e = SphericalCauchy(_loc(3, (2,)), validate_args=True, **kw).expand((4, 2))
    assert param in e.__dict__


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_kl_between_spcauchy_follows_dtype_and_device(dtype: torch.dtype, device: str) -> None:
    """The KL to another spCauchy has loc's dtype and device, for each way of passing the
    concentration (a number, or a tensor of either dtype)."""
    p = 5
    loc = _loc(p, (3,), dtype).to(device)
    other = SphericalCauchy(loc.flip(0), 0.3)
    for q in (SphericalCauchy(loc, 0.5), SphericalCauchy(loc, rho_logit=1.5),
              SphericalCauchy(loc, torch.full((3,), 0.5, dtype=F64, device=device)),
              SphericalCauchy(loc, rho_logit=torch.ones(3, dtype=F32, device=device))):
        kl = kl_divergence(q, other)
        assert kl.dtype == dtype and kl.device == loc.device and kl.isfinite().all()


# ---------------------------------------------------------------------------------------------
# the sampler
# ---------------------------------------------------------------------------------------------


def _norm_error_in_eps(q: SphericalCauchy, n: int) -> float:
    x = q.rsample((n,))
    assert x.isfinite().all()
    return ((x.norm(dim=-1) - 1).abs().max() / torch.finfo(x.dtype).eps).item()


# Tolerance |‖x‖ - 1| ≤ 8 eps: normalizing Gaussian noise costs ≈ 2-3 eps at any p (measured up to
# 3 eps for p = 1000) and the Möbius map adds a handful of roundings; 8 eps leaves room for that,
# nothing more. The map's condition number is ≈ (1+ρ)/(1-ρ) for noise near -μ, so the first test
# covers ρ ≤ 1/2 at every p, and every ρ for p ≥ 10 where such noise is vanishingly rare.
@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_samples_on_the_sphere(dtype: torch.dtype) -> None:
    torch.manual_seed(11)
    for p in (2, 3, 5, 10, 100, 1000):
        logits = [-80.0, -5.0, -1.0, 0.0]
        if p >= 10:
            logits += [1.0, 3.0, 7.0, 10.0, 20.0, 40.0, 80.0]
        n = 20_000 if p <= 100 else 2_000
        loc = _loc(p, dtype=dtype)
        for x in logits:
            q = SphericalCauchy(loc, rho_logit=torch.tensor(x, dtype=dtype))
            assert _norm_error_in_eps(q, n) <= 8, (p, x)
        q = SphericalCauchy(loc, torch.tensor(0.0, dtype=dtype))
        assert _norm_error_in_eps(q, n) <= 8, p


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_samples_on_the_sphere_low_dimension_high_concentration(dtype: torch.dtype) -> None:
    torch.manual_seed(12)
    worst = 0.0
    for p in (2, 3, 4, 5):
        for x in (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0):
            q = SphericalCauchy(_loc(p, dtype=dtype), rho_logit=torch.tensor(x, dtype=dtype))
            worst = max(worst, _norm_error_in_eps(q, 20_000))
    assert worst <= 8


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_log_prob_accepts_own_samples(dtype: torch.dtype) -> None:
    torch.manual_seed(13)
    q = SphericalCauchy(_loc(2, dtype=dtype), rho_logit=torch.tensor(10.0, dtype=dtype),
                        validate_args=True)
    assert q.log_prob(q.sample((100_000,))).isfinite().all()


# ---------------------------------------------------------------------------------------------
# the log-density
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_log_prob_matches_the_density_formula(dtype: torch.dtype) -> None:
    """log q(x) = (p-1)[log(1-ρ²) - log(1+ρ²-2ρμᵀx)] - log|S^{p-1}|, referenced in float64.

    The float64 reference uses the cancellation-free form 1+ρ²-2ρμᵀx = (1-ρ)² + ρ‖x-μ‖² with
    1-ρ from the logit, at the same (rounded) inputs. log q is (p-1) times the per-dimension term
    ℓ = log((1-ρ²)/(1+ρ²-2ρμᵀx)), which the code evaluates with a few roundings, minus a constant
    that can cancel most of it; so the error is measured in units of (p-1)·max(1, |ℓ|):
    ≤ 1e-13 in float64 and ≤ 3e-6 (≈ 25 ulp) in float32 (measured: 3e-7).
    """
    tol = {F64: 1e-13, F32: 3e-6}[dtype]
    for p in (2, 3, 10, 1000):
        for logit in (-3.0, 0.0, 2.0, 10.0, 20.0, 40.0):
            loc = _loc(p, dtype=dtype)
            eta = torch.tensor(logit, dtype=dtype)
            q = SphericalCauchy(loc, rho_logit=eta)
            x = torch.cat([q.sample((200,)), _uniform((50,), p, seed=5, dtype=dtype),
                           loc.unsqueeze(0), -loc.unsqueeze(0)])
            x64, loc64, eta64 = x.double(), loc.double(), eta.double()
            rho, rho_bar = torch.sigmoid(eta64), torch.sigmoid(-eta64)
            denom = rho_bar**2 + rho * (x64 - loc64).square().sum(-1)
            ell = torch.log(rho_bar * (1 + rho)) - torch.log(denom)
            ref = (p - 1) * ell - log_sphere_area(p)
            err = (q.log_prob(x).double() - ref).abs() / ((p - 1) * ell.abs().clamp_min(1))
            assert err.max() <= tol, (p, logit, err.max().item())
            # the textbook form, well conditioned away from ρ = 1; float64 only, as it differs
            # from the ‖x-μ‖² form by O(‖x‖² - 1), i.e. by the rounding of x onto the sphere
            if logit <= 2 and dtype == F64:
                naive = (p - 1) * (torch.log1p(-rho * rho) - torch.log1p(
                    rho * rho - 2 * rho * (x64 @ loc64))) - log_sphere_area(p)
                err = (q.log_prob(x).double() - naive).abs() / ((p - 1) * ell.abs().clamp_min(1))
                assert err.max() <= tol, (p, logit, err.max().item())
    # the uniform case is exactly -log|S|
    q = SphericalCauchy(_loc(7), torch.tensor(0.0, dtype=F64))
    torch.testing.assert_close(q.log_prob(_uniform((10,), 7, seed=6)),
                               torch.full((10,), -log_sphere_area(7), dtype=F64))


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("p", "rho"), [(2, 0.3), (3, 0.5), (10, 0.9)])
def test_pathwise_gradient_matches_mean_resultant_length(p: int, rho: float) -> None:
    """d E[μᵀx]/dρ through rsample vs autograd of m(ρ); also w.r.t. the logit and μ."""
    torch.manual_seed(40 + p)
    n = 100_000
    loc = _loc(p, seed=7)
    r0 = torch.tensor(rho, dtype=F64, requires_grad=True)
    (dm_drho,) = torch.autograd.grad(SphericalCauchy(loc, r0).mean_resultant_length, r0)
    # per-sample derivatives: every sample gets its own copy of the parameter
    r = torch.full((n,), rho, dtype=F64, requires_grad=True)
    (SphericalCauchy(loc, r).rsample() @ loc).sum().backward()
    assert _within_se(r.grad, dm_drho)
    eta = torch.full((n,), math.log(rho / (1 - rho)), dtype=F64, requires_grad=True)
    (SphericalCauchy(loc, rho_logit=eta).rsample() @ loc).sum().backward()
    assert _within_se(eta.grad, dm_drho * rho * (1 - rho))
    # direction: for a fixed vector c, E[cᵀx] = m cᵀμ, whose derivative along the sphere is the
    # tangential projection m (I - μμᵀ) c
    c = _loc(p, seed=8)
    locs = loc.expand(n, p).clone().requires_grad_()
    (SphericalCauchy(locs, torch.tensor(rho, dtype=F64), validate_args=False).rsample() @ c
     ).sum().backward()
    tangential = locs.grad - (locs.grad @ loc).unsqueeze(-1) * loc
    m = SphericalCauchy(loc, rho).mean_resultant_length
    assert _within_se(tangential, m * (c - (c @ loc) * loc))


def _gradcheck(fn, *inputs) -> bool:
    return torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_gradcheck_mobius_sample_with_fixed_noise() -> None:
    p, batch, s = 4, 3, 5
    loc = _loc(p, (batch,)).requires_grad_()
    u = _uniform((s, batch), p, seed=9)
    rho = torch.tensor([0.0, 0.5, 0.95], dtype=F64, requires_grad=True)
    eta = torch.tensor([-3.0, 0.5, 6.0], dtype=F64, requires_grad=True)
    assert _gradcheck(lambda m, r: mobius_sample(m, u, r), loc, rho)
    assert _gradcheck(lambda m, e: mobius_sample(m, u, rho_logit=e), loc, eta)
    # broadcasting: one direction, a scalar concentration, samples with leading axes
    loc1 = _loc(p).requires_grad_()
    r1 = torch.tensor(0.7, dtype=F64, requires_grad=True)
    assert _gradcheck(lambda m, r: mobius_sample(m, u, r), loc1, r1)
    assert _gradcheck(lambda m, r: mobius_sample(m, u, rho_logit=r), loc1, r1)
    # the fused sampler is the documented formula
    with torch.no_grad():
        w = rho.unsqueeze(-1) * loc
        v = u + w
        ref = w + (1 - rho**2).unsqueeze(-1) * v / v.square().sum(-1, keepdim=True)
        torch.testing.assert_close(mobius_sample(loc, u, rho), ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_log_prob_gradient_finite_at_the_mode(dtype: torch.dtype) -> None:
    loc = _loc(6, (3,), dtype).requires_grad_()
    eta = torch.tensor([0.0, 5.0, 30.0], dtype=dtype, requires_grad=True)
    q = SphericalCauchy(loc, rho_logit=eta)
    q.log_prob(loc.detach().clone()).sum().backward()
    assert loc.grad.isfinite().all() and eta.grad.isfinite().all()


@pytest.mark.parametrize("axis_aligned", [True, False], ids=["axis-loc", "random-loc"])
def test_float32_log_prob_gradients_at_any_concentration(axis_aligned: bool) -> None:
    """Gradients of log_prob of own float32 samples w.r.t. loc and rho_logit for rho_logit ∈
    [-50, 50] (1-ρ down to 2e-22): finite, and equal to the float64 gradient of the same inputs
    within 1e3 float32 eps of their scale (the row's largest loc component; for rho_logit
    4(p-1), the bound of the two terms of (p-1) d/dη [log(1-ρ²) - log D] that cancel at large η).
    With an axis-aligned loc, x - μ keeps components ≈ 1-ρ, ‖x-μ‖² underflowed float32 and the
    loc-gradient was NaN from rho_logit ≈ 44."""
    p, n = 5, 8
    eta = torch.linspace(-50, 50, 41).repeat_interleave(n)
    loc = torch.eye(p)[0] if axis_aligned else _loc(p, dtype=F32)
    loc = loc.expand(len(eta), p)
    torch.manual_seed(21)
    x = SphericalCauchy(loc, rho_logit=eta).sample()  # one float32 sample per row
    grads = {}
    for dtype in (F32, F64):
        m = loc.to(dtype).clone().requires_grad_()
        e = eta.to(dtype).clone().requires_grad_()
        # float32 unit vectors are not unit to float64 precision: no validation for the reference
        SphericalCauchy(m, rho_logit=e, validate_args=dtype == F32).log_prob(
            x.to(dtype)).sum().backward()
        grads[dtype] = (m.grad, e.grad)
    (loc32, eta32), (loc64, eta64) = grads[F32], grads[F64]
    tol = 1e3 * torch.finfo(F32).eps
    assert loc32.isfinite().all() and eta32.isfinite().all()
    assert ((loc32.double() - loc64).abs() <= tol * loc64.abs().amax(-1, keepdim=True)).all()
    assert ((eta32.double() - eta64).abs() <= tol * 4 * (p - 1)).all()


def test_log_prob_gradient_finite_at_rho_zero() -> None:
    p = 5
    loc = _loc(p)
    x = _uniform((4,), p, seed=15)
    rho = torch.zeros(4, dtype=F64, requires_grad=True)
    SphericalCauchy(loc, rho).log_prob(x).sum().backward()
    torch.testing.assert_close(rho.grad, 2 * (p - 1) * (x @ loc))


def test_gradcheck_kl_uniform() -> None:
    for p in (2, 3, 5, 7, 16, 100):
        # below, inside and above the table; both branches of the small-odd-p series
        # ρ ≤ 0.99: central differences with step 1e-6 need a moderate third derivative; the
        # logits below reach the concentrated regime in a well-conditioned coordinate
        rho = torch.tensor([1e-3, 0.2, 0.49, 0.51, 0.9, 0.99], dtype=F64, requires_grad=True)
        eta = torch.tensor([-22.0, -3.0, 0.0, 0.1, 4.0, 15.0, 39.9, 42.0], dtype=F64,
                           requires_grad=True)
        assert _gradcheck(lambda r, p=p: spcauchy_kl_uniform(p, r), rho)
        assert _gradcheck(lambda e, p=p: spcauchy_kl_uniform(p, rho_logit=e), eta)


def test_gradcheck_moments_and_entropy() -> None:
    for p in (2, 3, 9, 40):
        rho = torch.tensor([0.05, 0.45, 0.55, 0.95], dtype=F64, requires_grad=True)
        loc = _loc(p, (4,))

        def moments(r: torch.Tensor, loc: torch.Tensor = loc) -> tuple[torch.Tensor, ...]:
            q = SphericalCauchy(loc, r)
            return q.mean_resultant_length, q.variance, q.entropy()

        assert _gradcheck(moments, rho)


def test_gradcheck_fused_latent_layer() -> None:
    p, batch = 6, 4
    g = torch.Generator().manual_seed(16)
    h = torch.randn(batch, p, generator=g, dtype=F64).requires_grad_()
    eta = torch.tensor([-3.0, 0.0, 2.5, 8.0], dtype=F64, requires_grad=True)
    noise = torch.randn(3, batch, p, generator=g, dtype=F64)
    assert _gradcheck(lambda a, b: _Latent.apply(a, b, noise), h, eta)
    assert _gradcheck(lambda a, b: _Latent.apply(a, b, noise)[1], h, eta)  # KL alone
    assert _gradcheck(lambda a, b: _Latent.apply(a, b, noise[0])[0], h, eta)  # sample alone


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_fused_latent_equals_distribution_path(dtype: torch.dtype) -> None:
    """spcauchy_latent == SphericalCauchy(F.normalize(h), rho_logit=η): samples, KL, gradients."""
    tol = {F32: 1e-5, F64: 1e-12}[dtype]
    p, batch = 7, 5
    g = torch.Generator().manual_seed(17)
    h = torch.randn(batch, p, generator=g, dtype=dtype)
    eta = torch.tensor([-4.0, 0.0, 1.5, 9.0, 30.0], dtype=dtype)
    w = torch.randn(2, batch, p, generator=g, dtype=dtype)
    results = []
    for fused in (True, False):
        hh, ee = h.clone().requires_grad_(), eta.clone().requires_grad_()
        torch.manual_seed(18)  # both paths draw the same Gaussian noise
        if fused:
            z, kl = spcauchy_latent(hh, ee, (2,))
        else:
            q = SphericalCauchy(F.normalize(hh, dim=-1), rho_logit=ee)
            z, kl = q.rsample((2,)), kl_divergence(q, HypersphericalUniform(p, dtype=dtype))
        ((z * w).sum() + (kl * torch.arange(batch, dtype=dtype)).sum()).backward()
        results.append((z, kl, hh.grad, ee.grad))
    for a, b in zip(*results, strict=True):
        assert a.dtype == dtype and a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="rho_logit"):
        spcauchy_latent(h, eta[:3])


# ---------------------------------------------------------------------------------------------
# KL between two spherical Cauchy distributions
# ---------------------------------------------------------------------------------------------

KL_PAIRS = [  # (p, ρ_a, ρ_b, seed of μ_b; μ_a uses seed 0)
    (2, 0.8, 0.8, 1), (3, 0.5, 0.7, 2), (5, 0.9, 0.3, 3), (10, 0.2, 0.6, 4), (50, 0.6, 0.1, 5),
]


@pytest.mark.parametrize(("p", "rho_a", "rho_b", "seed"), KL_PAIRS)
def test_kl_between_spcauchy_matches_monte_carlo(p: int, rho_a: float, rho_b: float,
                                                 seed: int) -> None:
    torch.manual_seed(50 + p)
    n = 40_000
    a = SphericalCauchy(_loc(p), torch.tensor(rho_a, dtype=F64))
    b = SphericalCauchy(_loc(p, seed=seed), rho_logit=torch.logit(torch.tensor(rho_b,
                                                                               dtype=F64)))
    kl = kl_divergence(a, b)
    assert kl.shape == () and kl > 0
    x = a.sample((n,))
    assert _within_se(a.log_prob(x) - b.log_prob(x), kl)
    # the pseudo-hyperbolic distance is symmetric, hence so is this KL: check the reverse
    # direction by Monte Carlo as well
    torch.testing.assert_close(kl_divergence(b, a), kl, rtol=1e-12, atol=0)
    y = b.sample((n,))
    assert _within_se(b.log_prob(y) - a.log_prob(y), kl)


def test_kl_between_spcauchy_special_cases() -> None:
    for dtype in (F32, F64):
        p = 6
        loc = _loc(p, (4,), dtype).requires_grad_()
        rho = torch.tensor([0.0, 0.3, 0.9, 0.999], dtype=dtype, requires_grad=True)
        q = SphericalCauchy(loc, rho)
        kl = kl_divergence(q, SphericalCauchy(loc, rho))
        # identical arguments: zero up to underflow (the clamped distance is √tiny)
        assert (kl >= 0).all() and (kl <= 1e3 * torch.finfo(dtype).tiny).all()
        kl.sum().backward()
        assert (loc.grad == 0).all() and (rho.grad == 0).all()  # KL has its minimum there
        # against ρ_b = 0 it is the KL to the uniform
        uni = SphericalCauchy(_loc(p, (4,), dtype, seed=2), torch.zeros(4, dtype=dtype))
        torch.testing.assert_close(kl_divergence(q, uni), kl_divergence(
            q, HypersphericalUniform(p, dtype=dtype)), rtol=10 * torch.finfo(dtype).eps,
            atol=1e3 * torch.finfo(dtype).tiny)
    # batch broadcasting and dimension checks
    a = SphericalCauchy(_loc(3, (5,)), 0.5)
    b = SphericalCauchy(_loc(3, (2, 1), seed=1), torch.full((2, 5), 0.2, dtype=F64))
    assert kl_divergence(a, b).shape == (2, 5)
    with pytest.raises(ValueError, match="dimension"):
        kl_divergence(a, SphericalCauchy(_loc(4), 0.5))
    with pytest.raises(ValueError, match="dimension"):
        kl_divergence(a, HypersphericalUniform(4))


@pytest.mark.parametrize(("dtype", "logits"), [(F32, (50.0, 80.0)), (F64, (400.0, 700.0))],
                         ids=["float32", "float64"])
def test_kl_between_spcauchy_at_extreme_logits(dtype: torch.dtype, logits: tuple[float, ...]
                                               ) -> None:
    # Reference: float64 at logit ≤ 300 (no underflow there) extended linearly: for equal
    # logits x → ∞ the pseudo-hyperbolic logit grows like 2x, so KL grows by (p-1)·2 per unit.
    p = 3
    loc_a, loc_b = _loc(p, dtype=dtype), _loc(p, dtype=dtype, seed=1)
    for x in logits:
        eta = torch.tensor(x, dtype=dtype)
        a = SphericalCauchy(loc_a, rho_logit=eta)
        kl = kl_divergence(a, SphericalCauchy(loc_b, rho_logit=eta))
        x64 = torch.tensor(min(x, 300.0), dtype=F64)
        ref = kl_divergence(SphericalCauchy(loc_a.double(), rho_logit=x64, validate_args=False),
                            SphericalCauchy(loc_b.double(), rho_logit=x64, validate_args=False))
        ref = ref + 2 * (p - 1) * max(x - 300.0, 0.0)
        assert kl.isfinite() and abs(kl.double() - ref) <= 1e-5 * ref, (x, kl.item())
        same = kl_divergence(a, a)
        assert same >= 0 and same <= 1e3 * torch.finfo(dtype).tiny


def _pseudo_hyperbolic_logit(loc_a: torch.Tensor, loc_b: torch.Tensor, eta_a: float,
                             eta_b: float) -> float:
    """logit r of the pseudo-hyperbolic distance, in 60-digit mpmath from the exact float inputs
    (‖a-b‖² = (ρ̄_b-ρ̄_a)² + ρ_aρ_b‖μ_a-μ_b‖² and 1-‖a‖² = 1-ρ_a², as for unit μ)."""
    with mp.workdps(60):
        ea, eb = mp.mpf(eta_a), mp.mpf(eta_b)
        ra, rb, ba, bb = mp.sigmoid(ea), mp.sigmoid(eb), mp.sigmoid(-ea), mp.sigmoid(-eb)
        pairs = zip(loc_a.tolist(), loc_b.tolist(), strict=True)
        mu2 = sum((mp.mpf(x) - mp.mpf(y)) ** 2 for x, y in pairs)
        d2 = (ba - bb) ** 2 + ra * rb * mu2
        if d2 == 0:
            return -math.inf
        r = mp.sqrt(d2 / (d2 + ba * (1 + ra) * bb * (1 + rb)))
        return float(mp.log(r) - mp.log1p(-r))


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_kl_between_spcauchy_at_high_concentration_with_gradients(dtype: torch.dtype) -> None:
    """KL(spC(μ_a, η_a) ‖ spC(μ_b, η_b)) for logits up to 50 (1-ρ down to 2e-22), equal, nearly
    equal (1 float32 ulp apart) or distant logits, and μ_b equal to μ_a, 1e-6 or 1e-3 away, or
    antipodal. The value matches the mpmath pseudo-hyperbolic distance of the same inputs within
    1e3 eps (relative; 1e3 tiny at KL = 0); the gradients w.r.t. both locs and both logits are
    finite and, in float32, equal the float64 gradients of the same inputs within 1e3 float32 eps
    of their scale (the largest component, or p-1 for the logits). With equal locs and logits 45,
    46 the float32 loc-gradient used to be NaN: (ρ̄_b-ρ̄_a)² underflowed."""
    p = 4
    eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
    mu = _loc(p)
    v = _loc(p, seed=1)
    v = F.normalize(v - (v @ mu) * mu, dim=0)
    locs_b = [mu, F.normalize(mu + 1e-6 * v, dim=0), F.normalize(mu + 1e-3 * v, dim=0), -mu]
    ulp45 = 45 + torch.finfo(F32).eps * 32  # the next float32 after 45
    pairs = [(45.0, 46.0), (46.0, 45.0), (50.0, 50.0), (45.0, ulp45), (50.0, 49.99), (30.0, 50.0),
             (-5.0, 50.0), (0.0, 45.0), (20.0, 20.5)]
    for loc_b in locs_b:
        for eta_a, eta_b in pairs:
            grads = {}
            for dt in dict.fromkeys((dtype, F64)):
                params = [mu.to(dtype).to(dt), loc_b.to(dtype).to(dt),
                          torch.tensor(eta_a, dtype=dtype).to(dt),
                          torch.tensor(eta_b, dtype=dtype).to(dt)]
                params = [t.clone().requires_grad_() for t in params]
                check = dt == dtype  # float32 unit vectors are not unit to float64 precision
                kl = kl_divergence(
                    SphericalCauchy(params[0], rho_logit=params[2], validate_args=check),
                    SphericalCauchy(params[1], rho_logit=params[3], validate_args=check))
                grads[dt] = torch.autograd.grad(kl, params)
                if dt == dtype:
                    value, inputs = kl, [t.detach() for t in params]
            logit = _pseudo_hyperbolic_logit(inputs[0], inputs[1], inputs[2].item(),
                                             inputs[3].item())
            ref = spcauchy_kl_uniform(p, rho_logit=torch.tensor(logit, dtype=F64)).item()
            case = (loc_b @ mu).item(), eta_a, eta_b
            assert value.isfinite() and abs(value.item() - ref) <= 1e3 * (eps * ref + tiny), case
            for g, g64 in zip(grads[dtype], grads[F64], strict=True):
                assert g.isfinite().all(), case
                scale = g64.abs().max() if g64.dim() else torch.tensor(p - 1.0)
                assert ((g.double() - g64).abs() <= 1e3 * torch.finfo(F32).eps * scale).all(), case


def test_gradcheck_kl_between_spcauchy() -> None:
    p = 4
    loc_a = _loc(p, (3,)).requires_grad_()
    loc_b = _loc(p, (3,), seed=1).requires_grad_()
    rho_a = torch.tensor([0.1, 0.5, 0.95], dtype=F64, requires_grad=True)
    eta_b = torch.tensor([1.0, -2.0, 3.0], dtype=F64, requires_grad=True)

    def kl(ma, ra, mb, eb):
        return kl_divergence(SphericalCauchy(ma, ra, validate_args=False),
                             SphericalCauchy(mb, rho_logit=eb, validate_args=False))

    assert _gradcheck(kl, loc_a, rho_a, loc_b, eta_b)


# ---------------------------------------------------------------------------------------------
# behaviour at ρ = 0 and at extreme logits; property tests
# ---------------------------------------------------------------------------------------------


def test_rho_zero_is_the_uniform_distribution() -> None:
    for p in (2, 3, 8):
        q = SphericalCauchy(_loc(p, (2,)), torch.zeros(2, dtype=F64))
        u = HypersphericalUniform(p, (2,), dtype=F64)
        torch.testing.assert_close(q.entropy(), u.entropy(), rtol=0, atol=1e-15)
        torch.testing.assert_close(q.mean, u.mean, rtol=0, atol=0)
        torch.testing.assert_close(q.variance, u.variance, rtol=1e-15, atol=0)
        assert (kl_divergence(q, u) == 0).all()
        torch.manual_seed(60)
        assert q.rsample((1000,)).isfinite().all()


_batch_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(batch=_batch_shapes, sample=_batch_shapes, p=st.sampled_from([2, 3, 4, 7, 16, 129]),
       dtype=st.sampled_from([F32, F64]), use_logit=st.booleans(), data=st.data())
def test_property_shapes(batch: tuple[int, ...], sample: tuple[int, ...], p: int,
                         dtype: torch.dtype, use_logit: bool, data: st.DataObject) -> None:
    # the concentration may carry fewer leading axes than loc: it broadcasts
    k = data.draw(st.integers(0, len(batch)))
    conc_shape = batch[len(batch) - k:]
    g = torch.Generator().manual_seed(hash((batch, sample, p, use_logit)) % 2**31)
    loc = F.normalize(torch.randn(*batch, p, generator=g, dtype=dtype), dim=-1)
    conc = torch.rand(conc_shape, generator=g, dtype=dtype) * 0.98 + 0.01
    q = (SphericalCauchy(loc, rho_logit=torch.logit(conc)) if use_logit
         else SphericalCauchy(loc, conc))
    assert q.batch_shape == batch and q.event_shape == (p,)
    x = q.rsample(sample)
    assert x.shape == sample + batch + (p,) and x.dtype == dtype
    assert q.log_prob(x).shape == sample + batch
    for t in (q.entropy(), q.mean_resultant_length, kl_divergence(q, HypersphericalUniform(p))):
        assert t.shape == batch and t.dtype == dtype
    assert q.mean.shape == (*batch, p) and q.variance.shape == (*batch, p)
    other = SphericalCauchy(loc.flip(-1), 0.5)
    assert kl_divergence(q, other).shape == batch
    e = q.expand((2, *batch))
    assert e.batch_shape == (2, *batch) and e.rsample(sample).shape == (*sample, 2, *batch, p)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(p=st.sampled_from([2, 3, 5, 10, 64, 1000]), dtype=st.sampled_from([F32, F64]),
       logits=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=4), scale=st.sampled_from(
           [1.0, 10.0, 40.0, 80.0, 700.0]))
def test_property_finite_at_extreme_logits(p: int, dtype: torch.dtype, logits: list[float],
                                           scale: float) -> None:
    # float32 is specified on |rho_logit| ≤ 80, float64 on |rho_logit| ≤ 700
    scale = min(scale, 80.0 if dtype == F32 else 700.0)
    g = torch.Generator().manual_seed(p + len(logits))
    h = torch.randn(len(logits), p, generator=g, dtype=dtype, requires_grad=True)
    eta = (torch.tensor(logits, dtype=dtype) * scale).requires_grad_()
    q = SphericalCauchy(F.normalize(h, dim=-1), rho_logit=eta)
    torch.manual_seed(p)
    x = q.rsample((3,))
    kl = kl_divergence(q, HypersphericalUniform(p, dtype=dtype))
    outs = (x, q.log_prob(x), q.entropy(), q.mean, q.variance, q.mean_resultant_length, kl)
    for t in outs:
        assert t.isfinite().all()
    assert (x.norm(dim=-1) - 1).abs().max() <= 1e3 * torch.finfo(dtype).eps  # on the support
    assert (kl >= 0).all()
    ((x * torch.linspace(-1, 1, p, dtype=dtype)).sum() + kl.sum()).backward()  # the VAE path
    assert h.grad.isfinite().all() and eta.grad.isfinite().all()
    z, kl_fused = spcauchy_latent(h.detach(), eta.detach(), (2,))
    assert z.isfinite().all() and kl_fused.isfinite().all()
