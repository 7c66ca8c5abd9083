"""spcauchy: hyperspherical VAEs with the spherical Cauchy latent distribution."""

from .distributions import HypersphericalUniform, SphericalCauchy, unit_sphere
from .special import kl_uniform, spcauchy_latent

__version__ = "0.1.0"
__all__ = ["HypersphericalUniform", "SphericalCauchy", "__version__", "kl_uniform", "spcauchy_latent",
           "unit_sphere"]
