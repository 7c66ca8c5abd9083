"""MNIST CNN VAE of the spCauchy paper (the authors' ``experiments/mnist/vae.py``): three k4 s2
convolutions (28 → 14 → 7 → 3) with ``hidden = [c1, c2, c3]`` channels, a c3-unit layer, the
head; the decoder maps z through c3 units to c3 × 7 × 7 maps, two k3 s2 transposed convolutions
(7 → 14 → 28) and a k3 convolution to one channel of logits. With [32, 64, 128]: 1,214,693
parameters at d = 2 for the Gaussian, 1,214,821 for the spherical families.
"""

from __future__ import annotations

import torch
from torch import nn

from ...latents import latent_family
from ..config import Config, ConfigError
from .vae import BernoulliVAE


def cnn_vae(cfg: Config) -> BernoulliVAE:
    fam, d = latent_family(cfg.family, cfg.head, cfg.factors, cfg.sphere_dim), cfg.latent_dim
    if len(cfg.hidden) != 3:
        raise ConfigError(f"model cnn needs hidden = [c1, c2, c3] channels, got {cfg.hidden}")
    c1, c2, c3 = cfg.hidden
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c2, c3, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(c3 * 3 * 3, c3), nn.ReLU(),
        nn.Linear(c3, fam.n_params(d)),
    )
    decoder = nn.Sequential(
        nn.Linear(fam.ambient(d), c3), nn.ReLU(),
        nn.Linear(c3, c3 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c3, 7, 7)),
        nn.ConvTranspose2d(c3, c2, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.Conv2d(c1, 1, 3, padding=1), nn.Flatten(),
    )
    # channels-last convolution weights (activations follow them): ~1.2× faster steps on CPU
    # (oneDNN) and the tensor-core layout on GPUs; the function computed is the same
    vae = BernoulliVAE(encoder, decoder, cfg.family, d, head=cfg.head, precision=cfg.precision,
                       factors=cfg.factors, sphere_dim=cfg.sphere_dim)
    return vae.to(memory_format=torch.channels_last)
