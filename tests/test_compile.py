"""torch.compile: the latent layers and whole VAE training steps trace into one graph, without
graph breaks or warnings from the library, and compiled results equal eager ones.

vMF is the exception: Wood's rejection sampler must check on the host whether every draw was
accepted (that is what makes it exact), so its rsample breaks the graph once per round.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch._dynamo as dynamo
import torch.nn.functional as F
from torch.distributions import Distribution, kl_divergence

from spcauchy import (
    HypersphericalUniform,
    PowerSpherical,
    SphericalCauchy,
    spcauchy_latent,
)
from spcauchy.experiments import config
from spcauchy.experiments.datasets import build_model
from spcauchy.special.tables import constant_table

P = 5


@pytest.fixture(autouse=True)
def keep_default_validation():
    """Dynamo switches torch.distributions' default argument validation off for the whole
    process when it first runs; restore it for the tests that follow."""
    before = Distribution._validate_args
    yield
    Distribution.set_default_validate_args(before)


def explain(fn, *args):
    """(graph breaks, warnings) when dynamo traces fn(*args)."""
    dynamo.reset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = dynamo.explain(fn)(*args)
    dynamo.reset()
    reasons = [f"{b.reason.splitlines()[0]} at {b.user_stack[-1] if b.user_stack else '?'}"
               for b in result.break_reasons]
    return reasons, [str(w.message).splitlines()[0] for w in caught]


def test_constant_tables_carry_dynamos_constant_mark():
    """tables.constant_table sets the mark itself (to keep dynamo out of `import spcauchy`)."""
    def f():
        return torch.zeros(1)

    assert getattr(torch.compiler.assume_constant_result(f), "_dynamo_marked_constant", False)
    assert constant_table(lambda: torch.zeros(1))._dynamo_marked_constant


def fused(h, eta):
    z, kl = spcauchy_latent(h, eta)
    return z.sum() + kl.sum()


def api_logit(h, eta):
    q = SphericalCauchy(F.normalize(h, dim=-1), rho_logit=eta, validate_args=False)
    z = q.rsample()
    return (z.sum() + q.log_prob(z).sum() + q.entropy().sum()
            + kl_divergence(q, HypersphericalUniform(P, validate_args=False)).sum())


def api_rho(h, eta):
    q = SphericalCauchy(F.normalize(h, dim=-1), torch.sigmoid(eta), validate_args=False)
    z = q.rsample()
    return z.sum() + q.log_prob(z).sum() + q.kl_to_uniform().sum() + q.mean.sum()


def power(h, eta):
    q = PowerSpherical(F.normalize(h, dim=-1), F.softplus(eta), validate_args=False)
    z = q.rsample()
    return z.sum() + q.log_prob(z).sum() + q.kl_to_uniform().sum()


@pytest.mark.parametrize("fn", [fused, api_logit, api_rho, power])
def test_latent_layers_trace_without_breaks_or_warnings(fn):
    h, eta = torch.randn(16, P, requires_grad=True), torch.randn(16, requires_grad=True)
    # warm the caches: torch's kl_divergence dispatch table misses with a graph break (ours do
    # not: test_cold_tables_are_built_while_tracing)
    fn(h, eta)
    assert explain(fn, h, eta) == ([], [])


def test_cold_tables_are_built_while_tracing():
    """A (p, dtype) no other test uses: the tables are first built while dynamo traces."""
    h = torch.randn(8, 23, dtype=torch.float64, requires_grad=True)
    eta = torch.randn(8, dtype=torch.float64, requires_grad=True)
    assert explain(fused, h, eta) == ([], [])
    assert explain(api_rho, h, eta) == ([], [])


@pytest.mark.parametrize("preset", ["mnist-mlp", "mnist-cnn"])
@pytest.mark.parametrize("family", ["spcauchy", "power", "normal", "spcauchy+normal"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_vae_training_step_traces_into_one_graph(preset, family, precision):
    extra = ["factors=2", "latent_dim=4"] if family == "spcauchy" else ["latent_dim=5"]
    if family == "spcauchy+normal":
        extra = ["sphere_dim=2", "latent_dim=5"]
    model = build_model(config.load(preset, [f"family={family}", f"precision={precision}",
                                             *extra]))
    x = (torch.rand(8, 784) > 0.5).float()

    def loss(x):
        return model({"x": x})["loss"]

    loss(x)
    assert explain(loss, x) == ([], [])


def test_vmf_breaks_only_at_the_rejection_check():
    from spcauchy import VonMisesFisher

    def vmf(h, eta):
        return VonMisesFisher(F.normalize(h, dim=-1), F.softplus(eta) + 1,
                              validate_args=False).rsample().sum()

    h, eta = torch.randn(16, P), torch.randn(16)
    vmf(h, eta)
    breaks, _ = explain(vmf, h, eta)
    assert breaks and all("vmf_sampling.py" in b for b in breaks), breaks


@pytest.fixture
def eager_random():
    """Compiled code draws from torch's generator like eager code, so results compare exactly."""
    import torch._inductor.config as inductor

    dynamo.reset()
    with inductor.patch(fallback_random=True):
        yield
    dynamo.reset()


def test_compiled_training_step_equals_eager(eager_random):
    """Inductor compiles a whole mnist-mlp spCauchy step (forward and backward, product latent);
    loss and gradients equal eager's."""
    torch.manual_seed(0)
    model = build_model(config.load("mnist-mlp", ["family=spcauchy", "latent_dim=4",
                                                  "factors=2"]))
    x = (torch.rand(32, 784) > 0.5).float()

    def step(fn):
        torch.manual_seed(1)
        model.zero_grad()
        loss = fn({"x": x})["loss"]
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    loss, grads = step(model)
    c_loss, c_grads = step(torch.compile(model, fullgraph=True))
    torch.testing.assert_close(c_loss, loss, rtol=1e-5, atol=1e-5)
    for g, c in zip(grads, c_grads, strict=True):
        torch.testing.assert_close(c, g, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn", [fused, api_logit])
def test_compiled_under_autocast(fn, eager_random):
    """torch.compile inside a bf16 autocast region: one graph (the library switches autocast off
    with plain `with` blocks, which dynamo traces) and the eager float32 value. The compiled
    backward, though, runs partly in bfloat16 (PyTorch traces it under the region's autocast),
    so gradients are only close: the README says to keep the latent outside autocast."""
    h, eta = torch.randn(64, P, requires_grad=True), torch.randn(64, requires_grad=True)
    torch.manual_seed(2)
    eager = fn(h, eta)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert explain(fn, h, eta) == ([], [])
        torch.manual_seed(2)
        compiled = torch.compile(fn, fullgraph=True)(h, eta)
    assert compiled.dtype == torch.float32
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-4)
    g_eager = torch.autograd.grad(eager, [h, eta])
    g_compiled = torch.autograd.grad(compiled, [h, eta])
    for a, b in zip(g_compiled, g_eager, strict=True):
        assert a.isfinite().all()
        torch.testing.assert_close(a, b, rtol=0.05, atol=0.02)
