"""VAEs: latent families, objectives and per-dataset models, selected through registries."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..config import Config, ConfigError
from . import mnist, smiles, smiles_transformer
from .latents import HEADS, LATENTS, LatentFamily
from .model import VAE, BernoulliVAE
from .objectives import elbo_terms, importance_log_likelihood

# (dataset, model) → builder; a new dataset registers its own models here.
MODELS: dict[tuple[str, str], Callable[[Config], nn.Module]] = {
    ("mnist", "mlp"): mnist.mlp_vae,
    ("mnist", "cnn"): mnist.cnn_vae,
    ("smiles", "gru"): smiles.gru_vae,
    ("smiles", "transformer"): smiles_transformer.transformer_vae,
}


def build_model(cfg: Config) -> nn.Module:
    """The model a config describes; unknown names raise ``ConfigError`` listing the choices."""
    if cfg.family not in LATENTS:
        raise ConfigError(f"unknown family {cfg.family!r}; choose from {', '.join(LATENTS)}")
    if cfg.head not in HEADS:
        raise ConfigError(f"unknown head {cfg.head!r}; choose from {', '.join(HEADS)}")
    if cfg.latent_dim < 1:
        raise ConfigError(f"latent_dim must be ≥ 1, got {cfg.latent_dim}")
    key = (cfg.dataset, cfg.model)
    if key not in MODELS:
        known = ", ".join(f"{a}/{b}" for a, b in MODELS)
        raise ConfigError(f"unknown dataset/model {cfg.dataset}/{cfg.model}; choose from {known}")
    return MODELS[key](cfg)


__all__ = ["HEADS", "LATENTS", "MODELS", "VAE", "BernoulliVAE", "LatentFamily", "build_model",
           "elbo_terms", "importance_log_likelihood"]
