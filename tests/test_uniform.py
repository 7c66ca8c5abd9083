"""HypersphericalUniform: sphere areas, exact log-density and entropy, isotropic second moments,
KL between uniforms.

Shapes, expand, validation, support, dtypes and devices, Monte-Carlo mean, variance, entropy and
goodness of fit are checked for every family in test_conformance.py. Monte-Carlo checks are
seeded and must lie within 5 standard errors of the exact value (estimated from the same
samples); deterministic values are compared at the dtype's precision.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import kl_divergence

from spcauchy import HypersphericalUniform
from spcauchy.distributions.uniform import log_sphere_area

F64 = torch.float64


def test_sphere_areas() -> None:
    # |S^{p-1}| = 2π^{p/2}/Γ(p/2): |S^1| = 2π, |S^2| = 4π, |S^3| = 2π², |S^4| = 8π²/3
    for p, area in ((2, 2 * math.pi), (3, 4 * math.pi), (4, 2 * math.pi**2),
                    (5, 8 * math.pi**2 / 3)):
        assert math.isclose(log_sphere_area(p), math.log(area), rel_tol=1e-15, abs_tol=1e-15)
    # large p stays finite (no overflow of π^{p/2} or Γ): log-space recurrence
    # |S^{p+1}| = 2π/p · |S^{p-1}|
    for p in (100, 10_000):
        step = log_sphere_area(p + 2) - log_sphere_area(p)
        assert math.isclose(step, math.log(2 * math.pi / p), rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("p", [2, 3, 7, 64])
def test_log_prob_and_entropy(p: int) -> None:
    q = HypersphericalUniform(p, (2,), dtype=F64)
    g = torch.Generator().manual_seed(p)
    x = torch.nn.functional.normalize(torch.randn(5, 2, p, generator=g, dtype=F64), dim=-1)
    lp = q.log_prob(x)
    assert lp.shape == (5, 2) and lp.dtype == F64
    assert (lp == -log_sphere_area(p)).all()
    assert q.entropy().shape == (2,) and (q.entropy() == log_sphere_area(p)).all()
    # entropy = -E log q (the density is constant; 4 eps for the rounding of the mean)
    torch.testing.assert_close(-lp.mean(0), q.entropy(), rtol=4 * torch.finfo(F64).eps, atol=0)
    # broadcasting a single value against the batch
    assert q.log_prob(x[0, 0]).shape == (2,)
    if p == 2:
        torch.testing.assert_close(lp, torch.full((5, 2), -math.log(2 * math.pi), dtype=F64))
    if p == 3:
        torch.testing.assert_close(lp, torch.full((5, 2), -math.log(4 * math.pi), dtype=F64))


@pytest.mark.parametrize("p", [2, 3, 10, 100])
def test_second_moments_are_isotropic(p: int) -> None:
    """E xxᵀ = I/p: every pair of the first min(p, 10) coordinates within 5 standard errors
    (the conformance suite checks the diagonal, the variance, for every family), and the
    variance is exactly 1/p."""
    torch.manual_seed(70 + p)
    n = 40_000
    q = HypersphericalUniform(p, dtype=F64)
    x = q.sample((n,))
    k = min(p, 10)
    outer = x[:, :k, None] * x[:, None, :k]
    se2 = outer.std(0) / math.sqrt(n)
    exact = torch.eye(k, dtype=F64) / p
    assert ((outer.mean(0) - exact).abs() <= 5 * se2).all()
    torch.testing.assert_close(q.variance, torch.full((p,), 1 / p, dtype=F64))


def test_kl_uniform_to_uniform_is_zero() -> None:
    a = HypersphericalUniform(6, (3,), dtype=F64)
    b = HypersphericalUniform(6, (2, 1))
    kl = kl_divergence(a, b)
    assert kl.shape == (2, 3) and kl.dtype == F64 and (kl == 0).all()
    with pytest.raises(ValueError, match="dimension"):
        kl_divergence(a, HypersphericalUniform(5))


