"""VAEs with a pluggable latent family: encoder → q(z|x) (from ``LATENTS``) → decoder → p(x|z).

The training loop only needs ``model(batch) -> {"loss", "recon", "kl", "elbo"}`` (scalars);
``VAE`` provides it (and evaluation's posterior, prior and IS log-likelihood) for any model that
says how to encode x and how to score x given z.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from ...latents import latent_family
from ...special.precision import promote
from .objectives import elbo_terms, importance_log_likelihood

# config ``precision`` → autocast dtype of the networks (None: no autocast)
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX-512 BF16 or AMX. Elsewhere autocast emulates bfloat16, and ``precision="bf16"`` is
    slower than float32 (about 10× for mnist-cnn on an AVX2-only CPU:
    results/benchmarks/train_throughput_cnn_avx2.md). Other device types are assumed native."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return True
    # private probes of torch.cpu; where a release drops them, assume native (no false alarm)
    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None),
              getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(probe is None or probe() for probe in probes)


def check_sizes(**sizes: int) -> None:
    """Each keyword is a positive integer (bools are not), else a ValueError naming it."""
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


class VAE(nn.Module):
    """The ELBO machinery every model shares; a subclass provides the networks.

    Subclasses implement ``encode(x) -> h`` (B, n_params(d)) and
    ``decoder_log_prob(x, z) -> (m, B)`` (log p(x|z)) for z of shape (m, B, D), running their
    networks under ``self.autocast(x)``. The posterior is built here and only here, from
    ``latent_family(family, head, factors, sphere_dim)``.

    ``precision="bf16"``: encoder and decoder run under bfloat16 autocast; the latent layer, the
    KL and the likelihood stay in float32 (``h`` is cast back before the posterior is built).
    """

    def __init__(self, family: str, latent_dim: int, *, head: str = "softplus",
                 precision: str = "fp32", factors: int = 1, sphere_dim: int = 0):
        super().__init__()
        self.latent, self.d = latent_family(family, head, factors, sphere_dim), latent_dim
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {precision!r}")
        self.amp_dtype = PRECISIONS[precision]

    def autocast(self, like: Tensor) -> torch.autocast:
        """Mixed-precision context for the networks (a no-op for ``fp32``)."""
        return torch.autocast(like.device.type, dtype=self.amp_dtype or torch.bfloat16,
                              enabled=self.amp_dtype is not None)

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def decoder_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        raise NotImplementedError

    def _params(self, x: Tensor) -> Tensor:
        """Encoder output at full precision: the posterior never sees bfloat16."""
        h = self.encode(x)
        return promote(h)

    def posterior(self, x: Tensor) -> Distribution:
        return self.latent.posterior(self._params(x), self.d)

    def prior(self, like: Tensor) -> Distribution:
        """p(z) with the dtype and device of the floating tensor ``like``."""
        return self.latent.prior(self.d, like)

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-example ELBO terms (B,) from one posterior sample."""
        h = self._params(x)
        z, kl = self.latent.sample_and_kl(h, self.d, self.prior(h))
        return elbo_terms(z, kl, lambda z: self.decoder_log_prob(x, z))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        means = {k: v.mean() for k, v in self.terms(batch["x"]).items()}
        means["loss"] = -means["elbo"]
        return means

    def marginal_log_likelihood(self, x: Tensor, k: int, chunk: int = 100) -> Tensor:
        """Importance-sampled log p(x) with ``k`` draws from q(z|x), shape (B,) (the decoder's
        log p(x|z) is ``decoder_log_prob``)."""
        h = self._params(x)
        q = self.latent.posterior(h, self.d)
        return importance_log_likelihood(q, self.prior(h), lambda z: self.decoder_log_prob(x, z),
                                         k, chunk)


class BernoulliVAE(VAE):
    """VAE with log p(x|z) = -BCE(decoder(z), x) summed over the event dims of x.

    On binary pixels this is the Bernoulli log-likelihood; on grey levels it is the summed-BCE
    objective of the spCauchy paper's protocol.

    Args:
        encoder: x (B, *event) → h (B, n_params(d)).
        decoder: z (N, ambient(d)) → logits (N, *event).
        family, latent_dim, head, precision, factors, sphere_dim: as for :class:`VAE`.

    The last layer of ``encoder`` must be an ``nn.Linear``: the family initializes its head.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, family: str, latent_dim: int,
                 **kwargs: Any):
        super().__init__(family, latent_dim, **kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.latent.init_head(list(encoder.modules())[-1], latent_dim)

    def encode(self, x: Tensor) -> Tensor:
        with self.autocast(x):
            return self.encoder(x)

    def logits(self, z: Tensor, event_shape: torch.Size) -> Tensor:
        """Decoder logits (float32) for z of shape (..., D) → (..., *event_shape)."""
        with self.autocast(z):
            flat = self.decoder(z.reshape(-1, z.shape[-1]))
        return promote(flat).reshape(*z.shape[:-1], *event_shape)

    def decoder_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) for x (B, *event), z (m, B, D) → (m, B)."""
        logits = self.logits(z, x.shape[1:])
        bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
        return -bce.flatten(2).sum(-1)
