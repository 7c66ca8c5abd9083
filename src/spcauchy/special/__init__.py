"""Pure tensor numerics (no distribution classes)."""

from .spcauchy_kl import kl_uniform

__all__ = ["kl_uniform"]
