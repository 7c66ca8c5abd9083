"""spcauchy: hyperspherical VAEs with the spherical Cauchy latent distribution."""

from .distributions import HypersphericalUniform, SphericalCauchy, unit_sphere
from .special import kl_uniform
from .vae import LATENTS, LatentFamily

__version__ = "0.1.0"
__all__ = ["LATENTS", "HypersphericalUniform", "LatentFamily", "SphericalCauchy", "__version__",
           "kl_uniform", "unit_sphere"]
