"""Exact CDF of the angle to μ for rotationally symmetric laws on S^{p-1} (goodness of fit).

With t = μᵀx = cos θ, the angle θ ∈ [0, π] has density ∝ h(cos θ) sin^{p-2} θ, smooth for every p.
The CDF is integrated on a fine grid in float64 (trapezoid rule, error far below KS resolution),
independently of the samplers under test.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def angle_cdf(log_h: Callable[[torch.Tensor], torch.Tensor], p: int,
              n_grid: int = 400_001) -> Callable[[torch.Tensor], torch.Tensor]:
    theta = torch.linspace(0, math.pi, n_grid, dtype=torch.float64)
    log_dens = log_h(torch.cos(theta)) + (p - 2) * torch.log(torch.sin(theta).clamp_min(1e-300))
    dens = torch.exp(log_dens - log_dens.max())
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64),
                     torch.cumsum((dens[1:] + dens[:-1]) / 2, 0)])
    cdf = cdf / cdf[-1]

    def evaluate(angle: torch.Tensor) -> torch.Tensor:
        pos = (angle.double().clamp(0, math.pi) / math.pi * (n_grid - 1))
        i = pos.floor().long().clamp_max(n_grid - 2)
        frac = pos - i
        return cdf[i] * (1 - frac) + cdf[i + 1] * frac

    return evaluate


def ks_statistic(samples_cdf: torch.Tensor) -> float:
    """Kolmogorov–Smirnov distance of CDF values of i.i.d. samples from Uniform(0, 1)."""
    u = samples_cdf.sort().values
    n = u.numel()
    k = torch.arange(1, n + 1, dtype=u.dtype)
    return max((k / n - u).max().item(), (u - (k - 1) / n).max().item())


# KS critical value at level 1e-3: P(√n D > 1.95) ≈ 1e-3 (asymptotic Kolmogorov law).
KS_CRIT = 1.95


def angles(x: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
    """θ = angle between x and μ, accurate near 0: 2 asin(‖x - μ‖/2)."""
    return 2 * torch.asin(((x - loc).norm(dim=-1) / 2).clamp_max(1))
