"""Mixed precision in user code: under torch.autocast, and with float16/bfloat16 parameters, the
distributions compute in float32 and give the float32 results (special.precision)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from spcauchy import (
    HypersphericalUniform,
    PowerSpherical,
    SphericalCauchy,
    SphericalMixture,
    VonMisesFisher,
    spcauchy_kl_uniform,
    spcauchy_latent,
)
from sphere_stats import DEVICES

LOW = [torch.bfloat16, torch.float16]
P = 5


CONCENTRATIONS = {  # each family's parameter from a real number c
    "spcauchy-logit": lambda c: c,
    # ρ itself only up to sigmoid(5): in bfloat16, sigmoid(6) already rounds to 1
    "spcauchy-rho": lambda c: torch.sigmoid(c.clamp_max(5)),
    "vmf": lambda c: F.softplus(c) * 10,
    "power": lambda c: F.softplus(c) * 10,
}
BUILD = {
    "spcauchy-logit": lambda loc, k: SphericalCauchy(loc, rho_logit=k),
    "spcauchy-rho": SphericalCauchy,
    "vmf": VonMisesFisher,
    "power": PowerSpherical,
}


def everything(q, seed=0):
    """Every numerical method of q, with a seeded sample."""
    torch.manual_seed(seed)
    z = q.rsample((3,))
    return {"rsample": z, "log_prob": q.log_prob(z), "entropy": q.entropy(),
            "kl": kl_divergence(q, HypersphericalUniform(q.dim)), "mean": q.mean,
            "variance": q.variance}


def params(device, n=64):
    gen = torch.Generator().manual_seed(1)
    loc = F.normalize(torch.randn(n, P, generator=gen), dim=-1).to(device)
    # concentrations up to ρ ≈ 1 - 2e-9 (logit 20), where bfloat16 arithmetic would be useless
    conc = torch.linspace(-6, 20, n).to(device)
    return loc, conc


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", LOW)
def test_float32_parameters_under_autocast_give_the_float32_results(device, dtype):
    loc, conc = params(device)
    for name, build in BUILD.items():
        q = build(loc, CONCENTRATIONS[name](conc))
        ref = everything(q)
        with torch.autocast(device, dtype=dtype):
            got = everything(q)
        for key, value in ref.items():
            assert got[key].dtype == torch.float32, (name, key)
            torch.testing.assert_close(got[key], value, rtol=1e-6, atol=1e-6,
                                       msg=f"{name} {key}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", LOW)
def test_low_precision_parameters_are_promoted(device, dtype):
    """bf16/fp16 parameters (what an autocast encoder returns) give the float32 distribution of
    the same parameters, renormalized in float32; gradients reach the low-precision tensors."""
    loc, conc = params(device)
    loc_low = F.normalize(loc.to(dtype), dim=-1).requires_grad_()
    conc_low = conc.to(dtype).requires_grad_()
    loc_ref = F.normalize(loc_low.detach().float(), dim=-1)
    for name, build in BUILD.items():
        k_low = CONCENTRATIONS[name](conc_low)
        q, q_ref = build(loc_low, k_low), build(loc_ref, k_low.detach().float())
        with torch.autocast(device, dtype=dtype):
            got = everything(q)
        ref = everything(q_ref)
        for key, value in ref.items():
            assert got[key].dtype == torch.float32, (name, key)
            assert got[key].isfinite().all(), (name, key)
            torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-5,
                                       msg=f"{name} {key}")
        loss = sum(v.sum() for k, v in got.items() if k != "variance")
        g_loc, g_conc = torch.autograd.grad(loss, [loc_low, conc_low])
        assert g_loc.dtype == g_conc.dtype == dtype, name
        assert g_loc.float().isfinite().all() and g_conc.float().isfinite().all(), name


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", LOW)
def test_fused_layer_and_kl_under_autocast(device, dtype):
    h = torch.randn(256, P, device=device, requires_grad=True)
    eta = torch.linspace(-6, 20, 256, device=device, requires_grad=True)

    def run():
        torch.manual_seed(0)
        z, kl = spcauchy_latent(h, eta)
        kl_alone = spcauchy_kl_uniform(P, rho_logit=eta)
        loss = (z * torch.arange(P, device=device)).sum() + kl.sum()
        return (z, kl, kl_alone, *torch.autograd.grad(loss, [h, eta]))

    ref = run()
    with torch.autocast(device, dtype=dtype):  # backward inside autocast too
        got = run()
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    with torch.autocast(device, dtype=dtype):
        z, kl = spcauchy_latent(h.to(dtype), eta.to(dtype))
    assert z.dtype == kl.dtype == torch.float32 and z.isfinite().all() and kl.isfinite().all()


@pytest.mark.parametrize("dtype", LOW)
def test_autocast_vae_step_is_finite(dtype):
    """An encoder and decoder under autocast with the spCauchy posterior in between."""
    torch.manual_seed(0)
    enc, dec = torch.nn.Linear(20, P + 1), torch.nn.Linear(P, 20)
    x = torch.rand(32, 20)
    with torch.autocast("cpu", dtype=dtype):
        out = enc(x)
        q = SphericalCauchy(F.normalize(out[:, :P], dim=-1), rho_logit=out[:, P])
        z = q.rsample()
        recon = F.binary_cross_entropy_with_logits(dec(z).float(), x, reduction="none").sum(-1)
        loss = (recon + kl_divergence(q, HypersphericalUniform(P))).mean()
    loss.backward()
    assert loss.isfinite()
    assert all(p.grad.isfinite().all() for p in [*enc.parameters(), *dec.parameters()])


@pytest.mark.parametrize("dtype", LOW)
def test_fits_under_autocast_and_in_low_precision(dtype):
    torch.manual_seed(0)
    x = SphericalCauchy(F.normalize(torch.ones(P), dim=-1), torch.tensor(0.8)).sample((400,))
    ref = SphericalCauchy.fit(x)
    with torch.autocast("cpu", dtype=dtype):
        got = SphericalCauchy.fit(x)
        mix = SphericalMixture("spcauchy", 2).fit(x, restarts=1, generator=torch.Generator()
                                                  .manual_seed(0))
    torch.testing.assert_close(got.loc, ref.loc)
    torch.testing.assert_close(got.rho_logit, ref.rho_logit)
    mix_ref = SphericalMixture("spcauchy", 2).fit(x, restarts=1,
                                                  generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(mix.log_prob(x), mix_ref.log_prob(x))
    low = SphericalCauchy.fit(F.normalize(x.to(dtype), dim=-1))  # points stored in half precision
    assert low.loc.dtype == torch.float32
    assert torch.linalg.vecdot(low.loc, ref.loc) > 0.999
    assert (low.rho - ref.rho).abs() < 0.01


def test_off_sphere_low_precision_loc_is_still_rejected():
    loc = torch.tensor([[3.0, 0.0, 0.0]], dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="UnitSphere"):
        SphericalCauchy(loc, rho_logit=torch.zeros(1, dtype=torch.bfloat16), validate_args=True)
