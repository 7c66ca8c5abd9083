"""MNIST encoders/decoders for the two published protocols.

``mlp`` (S-VAE, Davidson et al. 2018): 784-256-128-latent, mirrored, ReLU.
``cnn`` (spCauchy paper): three stride-2 convolutions with 32/64/128 channels, mirrored with
transposed convolutions. ``hidden`` gives the layer widths / channel counts.
"""

from __future__ import annotations

import itertools

from torch import nn

from ..config import Config, ConfigError
from .latents import LATENTS
from .model import BernoulliVAE

PIXELS = 784


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def mlp_vae(cfg: Config) -> BernoulliVAE:
    fam, d = LATENTS[cfg.family], cfg.latent_dim
    encoder = _mlp([PIXELS, *cfg.hidden, fam.n_params(d)])
    decoder = _mlp([fam.ambient(d), *reversed(cfg.hidden), PIXELS])
    return BernoulliVAE(encoder, decoder, cfg.family, d)


def cnn_vae(cfg: Config) -> BernoulliVAE:
    """28×28 → 14 → 7 → 4 feature maps; the decoder mirrors it and crops 32×32 → 28×28."""
    fam, d = LATENTS[cfg.family], cfg.latent_dim
    if len(cfg.hidden) != 3:
        raise ConfigError(f"model cnn needs hidden = [c1, c2, c3] channels, got {cfg.hidden}")
    c1, c2, c3 = cfg.hidden
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(c3 * 16, fam.n_params(d)),
    )
    decoder = nn.Sequential(
        nn.Linear(fam.ambient(d), c3 * 16), nn.ReLU(), nn.Unflatten(1, (c3, 4, 4)),
        nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),
        nn.Flatten(2), nn.Unflatten(2, (32, 32)),
    )
    return BernoulliVAE(encoder, _Crop(decoder), cfg.family, d)


class _Crop(nn.Module):
    """Run ``net`` (→ N×1×32×32) and keep the central 28×28 pixels, flattened to N×784."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z):
        return self.net(z)[:, 0, 2:30, 2:30].reshape(z.shape[0], PIXELS)
