"""VAE models: the base classes and objectives, and one file per architecture (registered by its
dataset's ``models`` in ``spcauchy.experiments.datasets``)."""

from .objectives import elbo_terms, importance_log_likelihood
from .vae import VAE, BernoulliVAE

__all__ = ["VAE", "BernoulliVAE", "elbo_terms", "importance_log_likelihood"]
