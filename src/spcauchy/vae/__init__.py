"""VAE models."""
