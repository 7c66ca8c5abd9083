"""Distributions on the unit hypersphere S^{p-1} ⊂ R^p; ``dim`` always means p."""

from . import kl as _kl  # noqa: F401  (registers the KL divergences)
from .constraints import unit_sphere
from .mixture import SphericalMixture
from .power_spherical import PowerSpherical
from .product import Concatenated, SphereProduct
from .spherical_cauchy import SphericalCauchy
from .uniform import HypersphericalUniform
from .von_mises_fisher import VonMisesFisher

__all__ = [
    "Concatenated",
    "HypersphericalUniform",
    "PowerSpherical",
    "SphereProduct",
    "SphericalCauchy",
    "SphericalMixture",
    "VonMisesFisher",
    "unit_sphere",
]
