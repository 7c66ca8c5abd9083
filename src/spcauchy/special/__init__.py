"""Pure tensor numerics (no distribution classes)."""

from .latent import spcauchy_latent
from .spcauchy_kl import kl_uniform

__all__ = ["kl_uniform", "spcauchy_latent"]
