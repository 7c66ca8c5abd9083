"""Importance-sampled log-likelihood on models whose marginal likelihood is known exactly."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from spcauchy import HypersphericalUniform, SphericalCauchy
from spcauchy.distributions.uniform import log_sphere_area
from spcauchy.experiments.models import importance_log_likelihood


def _linear_gaussian(seed: int = 0):
    """z ~ N(0, I_2), x|z ~ N(Wz + b, s²I_3): p(x) = N(b, WWᵀ + s²I), posterior Gaussian."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(3, 2, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    s2 = 0.5
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    marginal = MultivariateNormal(b, w @ w.T + s2 * torch.eye(3, dtype=torch.float64))
    prec = torch.eye(2, dtype=torch.float64) + w.T @ w / s2
    cov = torch.linalg.inv(prec)
    mean = (x - b) @ w @ cov.T / s2
    posterior = MultivariateNormal(mean, cov)

    def log_lik(z):  # z (m, B, 2) → (m, B)
        return Independent(Normal(z @ w.T + b, math.sqrt(s2)), 1).log_prob(x)

    prior = Independent(Normal(torch.zeros(2, dtype=torch.float64), 1.0), 1)
    return x, marginal.log_prob(x), posterior, prior, log_lik


def test_exact_posterior_gives_exact_likelihood_for_any_k():
    _, exact, posterior, prior, log_lik = _linear_gaussian()
    for k in (1, 7, 50):
        est = importance_log_likelihood(posterior, prior, log_lik, k, chunk=3)
        torch.testing.assert_close(est, exact, rtol=0, atol=1e-10)


def test_wrong_posterior_converges_from_below():
    """With q = N(posterior mean, 2² × posterior scale) the k=1 estimate is the ELBO (< log p),
    and k = 2000 must be within 0.05 nats of log p (a loose bound on its Monte-Carlo error)."""
    torch.manual_seed(0)
    _, exact, posterior, prior, log_lik = _linear_gaussian()
    q = MultivariateNormal(posterior.mean, 4 * posterior.covariance_matrix)
    elbo = torch.stack([importance_log_likelihood(q, prior, log_lik, 1) for _ in range(400)])
    assert (elbo.mean(0) < exact - 0.1).all()
    est = importance_log_likelihood(q, prior, log_lik, 2000, chunk=500)
    assert (est - exact).abs().max() < 0.05


@pytest.mark.parametrize("p", [3, 11])
@pytest.mark.parametrize("rho_q, tol", [(0.7, 1e-10), (0.6, 0.05)])
def test_spherical_case_with_uniform_marginal(p, rho_q, tol):
    """z ~ U(S^{p-1}), x|z ~ spCauchy(z, 0.7). The density is symmetric in (x, z), so the
    marginal of x is uniform, log p(x) = -log|S^{p-1}|, and the posterior is spCauchy(x, 0.7):
    with that q the estimate is exact for any k; with ρ_q = 0.6, k = 4000 is within 0.05 nats."""
    torch.manual_seed(1)
    dtype = torch.float64
    x = HypersphericalUniform(p, dtype=dtype).sample((5,))
    q = SphericalCauchy(x, torch.full((5,), rho_q, dtype=dtype))
    prior = HypersphericalUniform(p, dtype=dtype)

    def log_lik(z):
        return SphericalCauchy(z, torch.tensor(0.7, dtype=dtype)).log_prob(x)

    k = 4000 if tol > 1e-6 else 3
    est = importance_log_likelihood(q, prior, log_lik, k, chunk=1000)
    assert (est + log_sphere_area(p)).abs().max() < tol


def test_k_must_be_positive():
    _, _, posterior, prior, log_lik = _linear_gaussian()
    with pytest.raises(ValueError, match="k must be"):
        importance_log_likelihood(posterior, prior, log_lik, 0)
