"""PowerSpherical: reference values, float32 stability, gradients, the log-density at the
antipode.

Shapes, expand, validation, the support, Monte-Carlo moments and KL, gradcheck and the sampler's
goodness of fit on the exact law of μᵀx are checked for every family in test_conformance.py.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from spcauchy import HypersphericalUniform, PowerSpherical
from spcauchy.distributions.uniform import log_sphere_area
from spcauchy.special.power_spherical_terms import ps_log_normalizer

REF = list(csv.DictReader((Path(__file__).parent / "data" / "baseline_reference.csv").open()))
TOL = {torch.float64: 1e-10, torch.float32: 1e-4}


def _loc(p: int, batch: tuple[int, ...] = (), dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(p)
    return F.normalize(torch.randn(*batch, p, generator=g, dtype=dtype), dim=-1)


def _rel(got: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    got = got.double()
    return ((got - ref).abs() / ref.abs().clamp_min(1e-300)).where(ref != 0, got.abs())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_kl_and_log_normalizer_match_reference(dtype: torch.dtype) -> None:
    for p in sorted({int(r["p"]) for r in REF}):
        rows = [r for r in REF if int(r["p"]) == p]
        kappa = torch.tensor([float(r["kappa"]) for r in rows], dtype=dtype)
        kl_ref = torch.tensor([float(r["kl_ps"]) for r in rows], dtype=torch.float64)
        lc_ref = torch.tensor([float(r["log_norm_ps"]) for r in rows], dtype=torch.float64)
        q = PowerSpherical(_loc(p, dtype=dtype).expand(len(rows), p), kappa)
        kl = kl_divergence(q, HypersphericalUniform(p))
        assert kl.isfinite().all() and (kl >= 0).all()
        assert _rel(kl, kl_ref).max() <= TOL[dtype], p
        assert _rel(ps_log_normalizer(p, kappa), lc_ref).max() <= TOL[dtype], p
        # log-density at the mode is log C + κ log 2
        mode_ref = torch.tensor([float(r["log_mode_ps"]) for r in rows], dtype=torch.float64)
        assert _rel(q.log_prob(q.loc), mode_ref).max() <= TOL[dtype], p
        torch.testing.assert_close(q.entropy().double(), log_sphere_area(p) - kl_ref,
                                   rtol=TOL[dtype], atol=TOL[dtype])


def test_kl_gradcheck_across_branches() -> None:
    for p in (2, 3, 9, 100):
        beta = (p - 1) / 2
        kappa = torch.tensor([0.2 * beta, 0.49 * beta, 0.51 * beta, 3.0, 40.0, 5e3],
                             dtype=torch.float64, requires_grad=True)
        loc = _loc(p, (6,))
        assert torch.autograd.gradcheck(
            lambda k, loc=loc, p=p: kl_divergence(PowerSpherical(loc, k),
                                                  HypersphericalUniform(p)), (kappa,))
        assert torch.autograd.gradcheck(lambda k, loc=loc: PowerSpherical(loc, k).log_prob(
            loc + 0.0), (kappa,))


def test_reparameterized_gradient_is_unbiased() -> None:
    """d E[μᵀz]/dκ = d/dκ κ/(κ+p-1) = (p-1)/(κ+p-1)²."""
    torch.manual_seed(7)
    p, kappa, n = 5, 2.0, 100_000
    loc = _loc(p)
    k = torch.full((n,), kappa, dtype=torch.float64, requires_grad=True)
    (PowerSpherical(loc.expand(n, p), k).rsample() @ loc).sum().backward()
    exact = (p - 1) / (kappa + p - 1) ** 2
    assert abs(k.grad.mean() - exact) <= 4 * k.grad.std() / math.sqrt(n)


def test_float32_extremes_never_nan() -> None:
    for p in (2, 3, 64, 1000, 10000):
        kappa = torch.tensor([0.0, 1e-6, 1.0, 1e3, 1e6, 1e8], requires_grad=True)
        direction = torch.randn(6, p, requires_grad=True)
        q = PowerSpherical(F.normalize(direction, dim=-1), kappa)
        x = q.rsample((4,))
        kl = kl_divergence(q, HypersphericalUniform(p))
        for t in (x, q.log_prob(x), q.entropy(), q.mean, q.variance, kl):
            assert t.isfinite().all(), p
        (x.sum() + kl.sum()).backward()
        assert kappa.grad.isfinite().all() and direction.grad.isfinite().all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_prob_at_the_antipode(dtype: torch.dtype) -> None:
    """x = -μ for 200 random normalized locs (p from 2 to 60), many with ‖μ‖² rounding above 1,
    where 1 - ‖x-μ‖²/4 went negative (NaN): the value is -inf for κ > 0 and the uniform log-density
    at κ = 0, with finite loc-gradients and a non-NaN κ-gradient."""
    gen = torch.Generator().manual_seed(11)
    above = 0
    for _ in range(200):
        p = int(torch.randint(2, 61, (1,), generator=gen))
        loc = F.normalize(torch.randn(p, generator=gen, dtype=dtype), dim=-1)
        above += int(loc.square().sum() > 1)
        loc.requires_grad_()
        kappa = torch.tensor([0.0, 0.5, 3.0, 1e4], dtype=dtype, requires_grad=True)
        lp = PowerSpherical(loc, kappa).log_prob(-loc.detach())
        assert (lp[1:] == -math.inf).all()
        torch.testing.assert_close(lp[0], torch.tensor(-log_sphere_area(p), dtype=dtype))
        g_loc, g_kappa = torch.autograd.grad(lp.sum(), (loc, kappa))
        assert g_loc.isfinite().all() and not g_kappa.isnan().any()
    assert above >= 20  # the class that used to fail is well represented


def test_log_prob_near_the_antipode_is_accurate() -> None:
    """x at angle π - atan(t) from μ, t ∈ [1e-6, 1e-2]: κ log((1+μᵀx)/2) with
    1 + μᵀx = t²/(√(1+t²)(1+√(1+t²))) exactly; the old 1 - ‖x-μ‖²/4 lost up to 4 digits here."""
    p, kappa = 6, 7.0
    loc = _loc(p, (5,))
    v = F.normalize(torch.randn(5, p, generator=torch.Generator().manual_seed(3),
                                dtype=torch.float64), dim=-1)
    v = F.normalize(v - (v * loc).sum(-1, keepdim=True) * loc, dim=-1)  # ⟂ μ
    t = torch.logspace(-6, -2, 5, dtype=torch.float64)
    x = F.normalize(-loc + t.unsqueeze(-1) * v, dim=-1)
    q = PowerSpherical(loc, torch.tensor(kappa, dtype=torch.float64))
    root = torch.sqrt(1 + t * t)
    expected = kappa * torch.log(t * t / (root * (1 + root)) / 2)
    # rounding x (|x + μ| ≈ t) moves ‖x + μ‖² by ~ 2t·eps·√p, i.e. the log by 2eps√p/t
    err = (q.log_prob(x) - q.log_prob(q.loc) - expected).abs()
    assert (err <= kappa * 8 * torch.finfo(torch.float64).eps * math.sqrt(p) / t).all(), err


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_draws_at_the_poles_have_finite_gradients(monkeypatch, dtype: torch.dtype) -> None:
    # s = 2 g_b / (g_a + g_b) rounds to 2 when g_a underflows against g_b (small κ, low p):
    # force both poles through the gamma draws and check the gradients stay finite
    gammas = iter([torch.tensor([1.0, 0.0, 1.0], dtype=dtype),   # g_a: s = 2 in the middle
                   torch.tensor([0.0, 1.0, 1.0], dtype=dtype)])  # g_b: s = 0 first
    real = torch._standard_gamma
    monkeypatch.setattr(torch, "_standard_gamma", lambda a: real(a) * 0 + next(gammas))
    direction = torch.randn(3, 3, dtype=dtype, requires_grad=True)
    kappa = torch.tensor([1.0, 1.0, 5.0], dtype=dtype, requires_grad=True)
    x = PowerSpherical(F.normalize(direction, dim=-1), kappa).rsample()
    (x * torch.randn_like(x)).sum().backward()
    assert direction.grad.isfinite().all() and kappa.grad.isfinite().all()
