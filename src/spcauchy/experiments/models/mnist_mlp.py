"""MNIST MLP VAE of the S-VAE paper (Davidson et al. 2018): 784-256-128-latent, mirrored, ReLU
(``hidden`` = the encoder widths)."""

from __future__ import annotations

import itertools

from torch import nn

from ...latents import latent_family
from ..config import Config
from .vae import BernoulliVAE

PIXELS = 784


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def mlp_vae(cfg: Config) -> BernoulliVAE:
    fam, d = latent_family(cfg.family, cfg.head, cfg.factors, cfg.sphere_dim), cfg.latent_dim
    encoder = _mlp([PIXELS, *cfg.hidden, fam.n_params(d)])
    decoder = _mlp([fam.ambient(d), *reversed(cfg.hidden), PIXELS])
    return BernoulliVAE(encoder, decoder, cfg.family, d, head=cfg.head, precision=cfg.precision,
                       factors=cfg.factors, sphere_dim=cfg.sphere_dim)
