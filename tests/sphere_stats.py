"""Statistics for testing distributions on S^{p-1}: Monte-Carlo tolerances, the exact law of
t = μᵀx of every rotationally symmetric family, and the one Kolmogorov–Smirnov test of the suite.

A rotationally symmetric law on S^{p-1} is determined by the law of t = μᵀx = cos θ, so an exact
sampler is checked by the probability integral transform u = F(t) of its draws, which must be
Uniform(0, 1). F is computed in float64, independently of the samplers under test:

- uniform: along a fixed axis e, (eᵀx + 1)/2 ~ Beta((p-1)/2, (p-1)/2);
- spherical Cauchy: x is the Möbius image of a uniform point u, and (μᵀu + 1)/2, which is
  again Beta((p-1)/2, (p-1)/2), has a closed form in x (``spcauchy_beta_statistic``);
- von Mises–Fisher, Power Spherical: θ has density ∝ h(cos θ) sin^{p-2} θ, integrated on a fine
  grid (``angle_cdf``).

Only public names of ``spcauchy.distributions`` are used: the tests pin the public contract,
not the package's module layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import special, stats

from spcauchy.distributions import (
    HypersphericalUniform,
    PowerSpherical,
    SphericalCauchy,
    VonMisesFisher,
)

F32, F64 = torch.float32, torch.float64
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# Monte-Carlo comparisons: |estimate - exact| ≤ Z_SE standard errors of the estimate (estimated
# from the same draws). For a Gaussian estimate a 5σ excursion is a two-sided 5.7e-7 event, so a
# failure means a wrong formula, not bad luck, even over the few thousand comparisons of a run.
Z_SE = 5.0

# Goodness of fit: the KS test must not reject at this level (p-value above it).
KS_LEVEL = 1e-3


def log_sphere_area(p: int) -> float:
    """log |S^{p-1}| = log(2π^{p/2}/Γ(p/2)), written out here so the tests do not rely on the
    package's own value."""
    return math.log(2.0) + 0.5 * p * math.log(math.pi) - math.lgamma(0.5 * p)


def unit(shape: tuple[int, ...], p: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    """Random unit vectors of shape (*shape, p) from their own generator (the global one is left
    alone), normalized in ``dtype``."""
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, p, generator=g, dtype=F64).to(dtype), dim=-1)


def assert_within_se(samples: torch.Tensor, exact: torch.Tensor | float, what: str = "",
                     *, rounding: float = 0.0) -> torch.Tensor:
    """|mean - exact| ≤ Z_SE standard errors, elementwise over the non-sample axes (axis 0).

    Evaluated in float64. ``rounding`` is added to the bound where the estimate cannot resolve
    below the rounding of its inputs: a constant density (zero spread), or draws that are unit
    vectors only to a few machine epsilons. Returns the standard errors, for power checks.
    """
    samples = samples.double()
    n = samples.shape[0]
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(n)
    exact = torch.as_tensor(exact).double().to(samples.device)
    err = (mean - exact).abs()
    bound = Z_SE * se + rounding
    assert (err <= bound).all(), (
        f"{what}: |mean - exact| = {err.max().item():.3g}, "
        f"{(err / se.clamp_min(1e-300)).max().item():.2f} standard errors")
    return se


def sphere_error(x: torch.Tensor) -> float:
    """max |‖x‖ - 1| in units of the machine epsilon of x's dtype."""
    return ((torch.linalg.vector_norm(x, dim=-1) - 1).abs().max() / torch.finfo(x.dtype).eps
            ).item()


# ----------------------------------------------------------------------------- exact marginals


def angle_cdf(log_h: Callable[[torch.Tensor], torch.Tensor], p: int,
              n_grid: int = 400_001) -> Callable[[torch.Tensor], torch.Tensor]:
    """CDF of the angle θ ∈ [0, π] whose density is ∝ h(cos θ) sin^{p-2} θ (smooth for every p).

    Integrated on a fine grid in float64 (trapezoid rule, error far below KS resolution).
    """
    theta = torch.linspace(0, math.pi, n_grid, dtype=F64)
    log_dens = log_h(torch.cos(theta)) + (p - 2) * torch.log(torch.sin(theta).clamp_min(1e-300))
    dens = torch.exp(log_dens - log_dens.max())
    cdf = torch.cat([torch.zeros(1, dtype=F64), torch.cumsum((dens[1:] + dens[:-1]) / 2, 0)])
    cdf = cdf / cdf[-1]

    def evaluate(angle: torch.Tensor) -> torch.Tensor:
        pos = angle.double().clamp(0, math.pi) / math.pi * (n_grid - 1)
        i = pos.floor().long().clamp_max(n_grid - 2)
        frac = pos - i
        return cdf[i] * (1 - frac) + cdf[i + 1] * frac

    return evaluate


def angles(x: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
    """θ = angle between x and μ, accurate near 0: 2 asin(‖x - μ‖/2)."""
    return 2 * torch.asin(((x - loc).norm(dim=-1) / 2).clamp_max(1))


def _symmetric_beta_cdf(v: torch.Tensor, p: int) -> torch.Tensor:
    """CDF of Beta((p-1)/2, (p-1)/2) at v ∈ [0, 1]."""
    a = (p - 1) / 2
    return torch.from_numpy(special.betainc(a, a, v.double().clamp(0, 1).cpu().numpy()))


def spcauchy_beta_statistic(x: torch.Tensor, loc: torch.Tensor, rho: torch.Tensor,
                            rho_bar: torch.Tensor) -> torch.Tensor:
    """(t_u + 1)/2 for the uniform point u that the Möbius map sends to x; under spCauchy(μ, ρ)
    it is Beta((p-1)/2, (p-1)/2).

    Inverting t_x = ρ + (1-ρ²)(t_u+ρ)/(1+2ρt_u+ρ²) (i.e. ρ → -ρ) and writing d = 1 - t_x =
    ‖x-μ‖²/2 (accurate near the mode) gives (t_u+1)/2 = ρ̄²(1 - d/2) / (ρ̄² + 2ρd), ρ̄ = 1-ρ,
    free of cancellation.
    """
    d = (x.double() - loc.double()).square().sum(-1) / 2
    return rho_bar**2 * (1 - d / 2) / (rho_bar**2 + 2 * rho * d)


def marginal_cdf(d: torch.distributions.Distribution, x: torch.Tensor) -> torch.Tensor:
    """u = F(t) for samples x of shape (n, *d.batch_shape, p), float64 of shape x.shape[:-1]:
    Uniform(0, 1) in every batch entry exactly when x follows d's law of t = μᵀx."""
    p = d.event_shape[0]
    if isinstance(d, HypersphericalUniform):  # any axis will do: e₁
        return _symmetric_beta_cdf((x[..., 0].double() + 1) / 2, p)
    if isinstance(d, SphericalCauchy):
        # ρ and 1-ρ from the logit: exact near ρ = 1 whichever parameter was given
        eta = d.rho_logit.double().cpu()
        v = spcauchy_beta_statistic(x.cpu(), d.loc.cpu(), torch.sigmoid(eta), torch.sigmoid(-eta))
        return _symmetric_beta_cdf(v, p)
    if isinstance(d, VonMisesFisher | PowerSpherical):
        kappa = d.concentration.double().cpu()
        theta = angles(x.double().cpu(), d.loc.double().cpu())
        out = torch.empty_like(theta)
        flat_k, flat_t, flat_o = kappa.reshape(-1), theta.reshape(len(x), -1), out.view(len(x), -1)
        for j, k in enumerate(flat_k.tolist()):
            if isinstance(d, VonMisesFisher):
                log_h = lambda t, k=k: k * (t - 1)  # noqa: E731
            else:
                log_h = lambda t, k=k: torch.xlogy(torch.tensor(k, dtype=F64), 1 + t)  # noqa: E731
            flat_o[:, j] = angle_cdf(log_h, p)(flat_t[:, j])
        return out
    raise TypeError(f"no exact marginal for {type(d).__name__}")


def perturbed(d: torch.distributions.Distribution, factor: float
              ) -> torch.distributions.Distribution:
    """The same family and loc with the concentration (ρ or κ) multiplied by ``factor``."""
    if isinstance(d, SphericalCauchy):
        return SphericalCauchy(d.loc.double(), torch.sigmoid(d.rho_logit.double()) * factor,
                               validate_args=False)
    return type(d)(d.loc.double(), d.concentration.double() * factor, validate_args=False)


# ------------------------------------------------------------------------ Kolmogorov–Smirnov


def ks_test(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-sided KS test of CDF values u (n, ...) against Uniform(0, 1), along axis 0.

    Returns the statistic D and its p-value, each of shape u.shape[1:]. The p-value is from the
    exact finite-n null law of D (scipy.stats.kstwo), which is below the asymptotic Kolmogorov
    one: requiring p > KS_LEVEL is at least as strict as √n·D < 1.95, and a rejection
    (p < KS_LEVEL) is as hard as with scipy.stats.kstest.
    """
    u = u.double().sort(0).values
    n = u.shape[0]
    k = torch.arange(1, n + 1, dtype=F64).view(-1, *[1] * (u.dim() - 1))
    stat = torch.maximum((k / n - u).amax(0), (u - (k - 1) / n).amax(0))
    return stat, torch.from_numpy(np.asarray(stats.kstwo.sf(stat.numpy(), n), dtype=np.float64))
