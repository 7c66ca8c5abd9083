"""spcauchy: hyperspherical VAEs with the spherical Cauchy latent distribution."""

from .distributions import (
    HypersphericalUniform,
    PowerSpherical,
    SphericalCauchy,
    SphericalMixture,
    VonMisesFisher,
    unit_sphere,
)
from .special import kl_uniform, spcauchy_latent
from .vae import LATENTS, LatentFamily

__version__ = "0.1.0"
__all__ = [
    "LATENTS",
    "HypersphericalUniform",
    "LatentFamily",
    "PowerSpherical",
    "SphericalCauchy",
    "SphericalMixture",
    "VonMisesFisher",
    "__version__",
    "kl_uniform",
    "spcauchy_latent",
    "unit_sphere",
]
