"""VAE latent layers: the family registry (posterior, prior, sampling + KL per family) and the
fused spCauchy layer."""

from .families import (
    HEADS,
    LATENTS,
    LatentFamily,
    MixedLatent,
    ProductLatent,
    latent_family,
)
from .fused import spcauchy_latent

__all__ = ["HEADS", "LATENTS", "LatentFamily", "MixedLatent", "ProductLatent", "latent_family",
           "spcauchy_latent"]
