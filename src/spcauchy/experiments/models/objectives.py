"""VAE objectives: the ELBO (training) and the importance-sampled log-likelihood (evaluation).

Both use a conditional log-likelihood ``log_lik(z) -> log p(x|z)``, with z of shape (m, B, D)
and results of shape (m, B).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Distribution

LogLik = Callable[[Tensor], Tensor]


def elbo_terms(z: Tensor, kl: Tensor, log_lik: LogLik) -> dict[str, Tensor]:
    """Per-example terms, each of shape (B,), from one reparameterized sample z (1, B, D) ~ q
    and the analytic KL(q ‖ p) (B,) — both from ``LatentFamily.sample_and_kl``.

    ELBO = E_q log p(x|z) - KL(q ‖ p); ``recon`` is the negative log-likelihood term
    -log p(x|z) (lower is better).
    """
    recon = -log_lik(z)[0]
    return {"recon": recon, "kl": kl, "elbo": -recon - kl}


def importance_log_likelihood(q: Distribution, prior: Distribution, log_lik: LogLik, k: int,
                              chunk: int = 100) -> Tensor:
    """log p(x) ≈ log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q, shape (B,).

    The IWAE bound (Burda et al. 2016): a lower bound in expectation that tightens to log p(x)
    as k grows, and is exact for every k when q is the true posterior. Samples are drawn
    ``chunk`` at a time so memory is O(chunk · B · D) whatever k is.
    """
    if k < 1:
        raise ValueError(f"k must be a positive number of importance samples, got {k}")
    log_w = []
    with torch.no_grad():
        for start in range(0, k, chunk):
            z = q.sample((min(chunk, k - start),))
            log_w.append(log_lik(z) + prior.log_prob(z) - q.log_prob(z))
    return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)
