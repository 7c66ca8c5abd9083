"""The training draw of every latent family equals posterior().rsample() and kl_divergence."""

import pytest
import torch
from torch.distributions import kl_divergence

from spcauchy.latents.families import LATENTS


@pytest.mark.parametrize("family", sorted(LATENTS))
@pytest.mark.parametrize("d", [2, 9])
def test_sample_and_kl_matches_the_posterior(family: str, d: int) -> None:
    # spcauchy's sample_and_kl is a fused re-implementation: same noise, same numbers, and the
    # same gradients as the unfused path through the Distribution API.
    lat = LATENTS[family]
    torch.manual_seed(0)
    h = torch.randn(16, lat.n_params(d), dtype=torch.float64, requires_grad=True)
    prior = lat.prior(d, h)
    torch.manual_seed(1)
    z, kl = lat.sample_and_kl(h, d, prior)
    grad = torch.autograd.grad((z.square().sum() + kl.sum()), h)[0]
    torch.manual_seed(1)
    q = lat.posterior(h, d)
    z_ref, kl_ref = q.rsample((1,)), kl_divergence(q, prior)
    grad_ref = torch.autograd.grad((z_ref.square().sum() + kl_ref.sum()), h)[0]
    assert z.shape == (1, 16, lat.ambient(d)) and kl.shape == (16,)
    torch.testing.assert_close(z, z_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kl, kl_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-9, atol=1e-9)
