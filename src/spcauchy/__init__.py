"""spcauchy: distributions on the unit hypersphere and hyperspherical VAE latent layers, with the
spherical Cauchy distribution. Needs torch only; the experiment suite is ``spcauchy.experiments``.
"""

import warnings

from .distributions import (
    Concatenated,
    HypersphericalUniform,
    PowerSpherical,
    SphereProduct,
    SphericalCauchy,
    SphericalMixture,
    VonMisesFisher,
    unit_sphere,
)
from .latents import HEADS, LATENTS, LatentFamily, spcauchy_latent
from .special.spcauchy_kl import kl_uniform as spcauchy_kl_uniform

__version__ = "0.1.0"
__all__ = [
    "HEADS",
    "LATENTS",
    "Concatenated",
    "HypersphericalUniform",
    "LatentFamily",
    "PowerSpherical",
    "SphereProduct",
    "SphericalCauchy",
    "SphericalMixture",
    "VonMisesFisher",
    "__version__",
    "spcauchy_kl_uniform",
    "spcauchy_latent",
    "unit_sphere",
]


def __getattr__(name: str):  # the pre-0.2 name, which hid that it is spCauchy-only
    if name == "kl_uniform":
        warnings.warn("spcauchy.kl_uniform is deprecated; use spcauchy.spcauchy_kl_uniform",
                      DeprecationWarning, stacklevel=2)
        return spcauchy_kl_uniform
    raise AttributeError(f"module 'spcauchy' has no attribute {name!r}")
