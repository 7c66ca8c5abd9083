"""VAEs with a pluggable latent family: encoder → q(z|x) (from ``LATENTS``) → decoder → p(x|z).

The training loop only needs ``model(batch) -> {"loss", "recon", "kl", "elbo"}`` (scalars);
``VAE`` provides it (and evaluation's posterior, prior and IS log-likelihood) for any model that
says how to encode x and how to score x given z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from .latents import LATENTS
from .objectives import elbo_terms, importance_log_likelihood


class VAE(nn.Module):
    """The ELBO machinery every model shares; a subclass provides the networks.

    Subclasses implement ``encode(x) -> h`` (B, n_params(d)) and ``log_lik(x, z) -> (m, B)`` for
    z of shape (m, B, D). The posterior is built here and only here, from ``LATENTS[family]``.
    """

    def __init__(self, family: str, latent_dim: int):
        super().__init__()
        if family not in LATENTS:
            raise ValueError(f"family must be one of {', '.join(LATENTS)}, got {family!r}")
        self.latent, self.d = LATENTS[family], latent_dim

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def log_lik(self, x: Tensor, z: Tensor) -> Tensor:
        raise NotImplementedError

    def posterior(self, x: Tensor) -> Distribution:
        return self.latent.posterior(self.encode(x), self.d)

    def prior(self, like: Tensor) -> Distribution:
        """p(z) with the dtype and device of the floating tensor ``like``."""
        return self.latent.prior(self.d, like)

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-example ELBO terms (B,) from one posterior sample."""
        h = self.encode(x)
        z, kl = self.latent.sample_and_kl(h, self.d, self.prior(h))
        return elbo_terms(z, kl, lambda z: self.log_lik(x, z))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        means = {k: v.mean() for k, v in self.terms(batch["x"]).items()}
        means["loss"] = -means["elbo"]
        return means

    def log_likelihood(self, x: Tensor, k: int, chunk: int = 100) -> Tensor:
        """Importance-sampled log p(x), shape (B,)."""
        h = self.encode(x)
        q = self.latent.posterior(h, self.d)
        return importance_log_likelihood(q, self.prior(h), lambda z: self.log_lik(x, z), k, chunk)


class BernoulliVAE(VAE):
    """VAE with log p(x|z) = -BCE(decoder(z), x) summed over the event dims of x.

    On binary pixels this is the Bernoulli log-likelihood; on grey levels it is the summed-BCE
    objective of the spCauchy paper's protocol.

    Args:
        encoder: x (B, *event) → h (B, n_params(d)).
        decoder: z (N, ambient(d)) → logits (N, *event).
        family: key of ``LATENTS``; latent_dim: manifold dimension d.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, family: str, latent_dim: int):
        super().__init__(family, latent_dim)
        self.encoder, self.decoder = encoder, decoder

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def logits(self, z: Tensor, event_shape: torch.Size) -> Tensor:
        """Decoder logits for z of shape (..., D) → (..., *event_shape)."""
        flat = self.decoder(z.reshape(-1, z.shape[-1]))
        return flat.reshape(*z.shape[:-1], *event_shape)

    def log_lik(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) for x (B, *event), z (m, B, D) → (m, B)."""
        logits = self.logits(z, x.shape[1:])
        bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
        return -bce.flatten(2).sum(-1)
