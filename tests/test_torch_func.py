"""torch.func transforms (grad, vmap, jacrev, jacfwd, hessian) through the library's custom
autograd.Functions: the fused spCauchy latent layer, the spCauchy KL, the Möbius sampler, the vMF
implicit gradient and the known-derivative nodes of the special functions (vMF, Power Spherical).

Each transform is compared, in float64, with what torch.autograd gives for the same computation:
grad with torch.autograd.grad, vmap with the batched call, vmap of grad with a loop of per-sample
gradients, jacrev and jacfwd with torch.autograd.functional.jacobian, hessian with
torch.autograd.functional.hessian (the double-backward paths). Samplers are compared for the same
noise: fixed uniform points for the Möbius sampler and the fused layer, the same seed where the
transform draws what autograd draws, and under vmap only what does not depend on the draws.
What cannot be supported raises, and is tested to raise: derivatives that are not implemented,
forward mode nested in forward mode, Wood's sampler under vmap(randomness="same") with a
batched concentration.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import forward_ad
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vmap

from spcauchy import (
    PowerSpherical,
    SphericalCauchy,
    VonMisesFisher,
    spcauchy_kl_uniform,
    spcauchy_latent,
)
from spcauchy.distributions.von_mises_fisher import _ImplicitS
from spcauchy.latents.fused import _Latent
from spcauchy.special.mobius import mobius_sample
from spcauchy.special.vmf import vmf_terms

# raised by torch.func's own vmap implementation (torch 2.13), not by this library
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning")

F64 = torch.float64
B, P = 5, 4
NOT_IMPLEMENTED = "not implemented"
NESTED_FORWARD = "forward-mode derivative nested"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _unit(*shape: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=_gen(seed), dtype=F64), dim=-1)


def _close(actual, expected) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)


def _autograd(fn: Callable[..., torch.Tensor], *args: torch.Tensor, wrt: int | None = None
              ) -> tuple[torch.Tensor, ...]:
    """torch.autograd.grad of the scalar fn(*args) with respect to the first ``wrt`` arguments
    (all by default)."""
    leaves = [a.detach().requires_grad_() for a in args[:wrt]]
    return torch.autograd.grad(fn(*leaves, *args[len(leaves):]), leaves)


def _per_sample(fn: Callable[..., torch.Tensor], *args: torch.Tensor, wrt: int | None = None
                ) -> tuple[torch.Tensor, ...]:
    """torch.autograd.grad of fn on each leading index of the arguments, stacked."""
    rows = [_autograd(fn, *(a[i] for a in args), wrt=wrt) for i in range(args[0].shape[0])]
    return tuple(torch.stack(col) for col in zip(*rows, strict=True))


def _argnums(n: int) -> tuple[int, ...]:
    return tuple(range(n))


def _check_grad_vmap(fn: Callable[..., torch.Tensor], *args: torch.Tensor) -> None:
    """fn maps per-sample arguments (leading dim stripped) to a scalar. Checks torch.func.grad of
    the batch sum against autograd, vmap against the batched call's per-sample values, and vmap of
    grad against a loop."""
    total = vmap(fn)
    _close(grad(lambda *a: total(*a).sum(), argnums=_argnums(len(args)))(*args),
           _autograd(lambda *a: total(*a).sum(), *args))
    _close(vmap(fn)(*args), torch.stack([fn(*(a[i] for a in args)) for i in range(B)]))
    _close(vmap(grad(fn, argnums=_argnums(len(args))))(*args), _per_sample(fn, *args))


# ------------------------------------------------------------------------------ spCauchy KL
ETAS = torch.tensor([-25.0, -3.0, 0.0, 2.5, 45.0], dtype=F64)  # below, in and above the table
RHOS = torch.tensor([0.0, 0.1, 0.5, 0.9, 0.999], dtype=F64)


@pytest.mark.parametrize("logit", [True, False])
def test_kl_grad_vmap_jacobians_hessian(logit: bool) -> None:
    x = ETAS if logit else RHOS

    def kl(t: torch.Tensor) -> torch.Tensor:
        return spcauchy_kl_uniform(P, rho_logit=t) if logit else spcauchy_kl_uniform(P, t)

    _close(grad(lambda t: kl(t).sum())(x), _autograd(lambda t: kl(t).sum(), x)[0])
    _close(vmap(kl)(x), kl(x))  # per element: 0-dim parameters
    _close(vmap(kl)(x.view(B, 1)), kl(x.view(B, 1)))
    _close(vmap(grad(kl))(x), _per_sample(kl, x)[0])
    expected = torch.autograd.functional.jacobian(kl, x)
    _close(jacrev(kl)(x), expected)
    _close(jacfwd(kl)(x), expected)
    _close(hessian(lambda t: kl(t).sum())(x),
           torch.autograd.functional.hessian(lambda t: kl(t).sum(), x))
    # plain forward-mode AD runs the same jvp rule
    with forward_ad.dual_level():
        tangent = forward_ad.unpack_dual(kl(forward_ad.make_dual(x, torch.ones_like(x)))).tangent
    _close(tangent, expected.diagonal())


def test_kl_third_derivative_and_nested_forward_mode_raise() -> None:
    def kl(e: torch.Tensor) -> torch.Tensor:
        return spcauchy_kl_uniform(P, rho_logit=e).sum()

    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):
        jacrev(hessian(kl))(ETAS)
    with pytest.raises(RuntimeError, match=NESTED_FORWARD):
        jacfwd(jacfwd(kl))(ETAS)
    # reverse over forward is exact (and the Hessian is diagonal: KL is elementwise)
    _close(jacrev(jacfwd(kl))(ETAS), hessian(kl)(ETAS))


# ------------------------------------------------------------------------- fused latent layer
def _latent_inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    h = 2 * torch.randn(B, P, generator=g, dtype=F64)
    eta = torch.linspace(-3.0, 4.0, B, dtype=F64)
    noise = torch.randn(B, P, generator=g, dtype=F64)
    return h, eta, noise


def _latent(h: torch.Tensor, eta: torch.Tensor, noise: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """spcauchy_latent with given noise (the public function draws it)."""
    return _Latent.call(h, eta, noise)


_W = torch.linspace(-1.0, 1.0, P, dtype=F64)


def _latent_loss(h: torch.Tensor, eta: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    z, kl = _latent(h, eta, noise)
    return ((z * _W).sum(-1) ** 2 + 0.3 * kl).sum()


def test_latent_fixed_noise_grad_vmap_jacobians() -> None:
    h, eta, noise = _latent_inputs()
    _check_grad_vmap(lambda a, e: _latent_loss(a, e, noise[0]), h, eta)
    # vmap over the noise too, against the batched call
    z, kl = vmap(_latent)(h, eta, noise)
    z_ref, kl_ref = _latent(h, eta, noise)
    _close(z, z_ref)
    _close(kl, kl_ref)
    _close(vmap(grad(_latent_loss, argnums=(0, 1)))(h, eta, noise),
           _per_sample(_latent_loss, h, eta, noise, wrt=2))
    for i in range(2):  # the Jacobians of z and of KL with respect to h and η

        def out(a: torch.Tensor, e: torch.Tensor, i: int = i) -> torch.Tensor:
            return _latent(a, e, noise)[i]

        expected = torch.autograd.functional.jacobian(out, (h, eta))
        _close(jacrev(out, argnums=(0, 1))(h, eta), expected)
        _close(jacfwd(out, argnums=(0, 1))(h, eta), expected)


def test_latent_hessian_matches_double_backward() -> None:
    h, eta, noise = _latent_inputs(1)

    def loss(a: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return _latent_loss(a, e, noise)

    expected = torch.autograd.functional.hessian(loss, (h, eta))
    _close(hessian(loss, argnums=(0, 1))(h, eta), expected)
    _close(jacrev(jacrev(loss, argnums=(0, 1)), argnums=(0, 1))(h, eta), expected)
    with pytest.raises(RuntimeError, match=NESTED_FORWARD):
        jacfwd(jacfwd(loss, argnums=(0, 1)), argnums=(0, 1))(h, eta)


def test_latent_gradient_of_kl_alone_is_zero_in_h() -> None:
    h, eta, noise = _latent_inputs(2)
    expected = _autograd(lambda a, e: _latent(a, e, noise)[1].sum(), h, eta)
    assert torch.equal(expected[0], torch.zeros_like(h))
    _close(grad(lambda a, e: _latent(a, e, noise)[1].sum(), argnums=(0, 1))(h, eta), expected)


def test_latent_public_entry_point() -> None:
    h, eta, _ = _latent_inputs(3)

    def loss(a: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(7)  # the same noise for torch.func and for autograd
        z, kl = spcauchy_latent(a, e)
        return ((z * _W).sum(-1) ** 2 + kl).sum()

    _close(grad(loss, argnums=(0, 1))(h, eta), _autograd(loss, h, eta))
    # under vmap: the KL is deterministic, the draws follow the randomness mode
    rows = h[:1].expand(B, P)
    z, kl = vmap(spcauchy_latent, randomness="different")(rows, eta)
    _close(kl, spcauchy_latent(rows, eta)[1])
    _close(torch.linalg.vector_norm(z, dim=-1), torch.ones(B, dtype=F64))
    z, _ = vmap(lambda a: spcauchy_latent(a, eta[0]), randomness="different")(rows)
    assert not torch.allclose(z[0], z[1])
    z, _ = vmap(lambda a: spcauchy_latent(a, eta[0]), randomness="same")(rows)
    _close(z, z[:1].expand(B, P))
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(spcauchy_latent)(h, eta)


# ------------------------------------------------------------------------ spCauchy sampler
@pytest.mark.parametrize("logit", [True, False])
def test_mobius_sample_fixed_noise(logit: bool) -> None:
    loc = _unit(B, P, seed=4)
    u = _unit(B, P, seed=5)
    param = torch.linspace(-2.0, 3.0, B, dtype=F64) if logit else torch.linspace(0.0, 0.95, B,
                                                                                  dtype=F64)

    def sample(m: torch.Tensor, c: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return mobius_sample(m, v, rho_logit=c) if logit else mobius_sample(m, v, c)

    def loss(m: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return ((sample(m, c, u) * _W).sum(-1) ** 2).sum()

    _close(grad(loss, argnums=(0, 1))(loc, param), _autograd(loss, loc, param))
    _close(vmap(sample)(loc, param, u), sample(loc, param, u))
    _close(vmap(grad(lambda m, c, v: ((sample(m, c, v) * _W).sum() ** 2), argnums=(0, 1)))(
        loc, param, u), _per_sample(lambda m, c, v: (sample(m, c, v) * _W).sum() ** 2, loc,
                                    param, u, wrt=2))
    expected = torch.autograd.functional.jacobian(lambda m, c: sample(m, c, u), (loc, param))
    _close(jacrev(lambda m, c: sample(m, c, u), argnums=(0, 1))(loc, param), expected)
    _close(jacfwd(lambda m, c: sample(m, c, u), argnums=(0, 1))(loc, param), expected)
    _close(hessian(loss, argnums=(0, 1))(loc, param),
           torch.autograd.functional.hessian(loss, (loc, param)))
    with forward_ad.dual_level():
        tangent = forward_ad.unpack_dual(sample(forward_ad.make_dual(loc, torch.ones_like(loc)),
                                                param, u)).tangent
    _close(tangent, expected[0].sum((-2, -1)))
    with pytest.raises(RuntimeError, match=NESTED_FORWARD):
        jacfwd(jacfwd(lambda c: sample(loc, c, u)))(param)


@pytest.mark.parametrize("logit", [True, False])
def test_spherical_cauchy_rsample_and_log_prob(logit: bool) -> None:
    loc = _unit(B, P, seed=6)
    param = torch.linspace(-1.0, 3.0, B, dtype=F64) if logit else torch.linspace(0.05, 0.9, B,
                                                                                  dtype=F64)
    x = _unit(B, P, seed=7)

    def dist(m: torch.Tensor, c: torch.Tensor) -> SphericalCauchy:
        return SphericalCauchy(m, rho_logit=c) if logit else SphericalCauchy(m, c)

    def drawn(m: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(11)
        return ((dist(m, c).rsample((3,)) * _W).sum(-1) ** 2).sum()

    _close(grad(drawn, argnums=(0, 1))(loc, param), _autograd(drawn, loc, param))
    _check_grad_vmap(lambda m, c, v: dist(m, c).log_prob(v), loc, param, x)
    expected = torch.autograd.functional.hessian(lambda c: dist(loc, c).log_prob(x).sum(), param)
    _close(hessian(lambda c: dist(loc, c).log_prob(x).sum())(param), expected)
    _close(jacrev(lambda c: dist(loc, c).log_prob(x))(param), torch.autograd.functional.jacobian(
        lambda c: dist(loc, c).log_prob(x), param))
    rows = loc[:1].expand(B, P)
    z = vmap(lambda m: dist(m, param[0]).rsample(), randomness="different")(rows)
    _close(torch.linalg.vector_norm(z, dim=-1), torch.ones(B, dtype=F64))
    assert not torch.allclose(z[0], z[1])
    z = vmap(lambda m: dist(m, param[0]).rsample(), randomness="same")(rows)
    _close(z, z[:1].expand(B, P))


# -------------------------------------------------------------------------- von Mises–Fisher
KAPPAS = torch.tensor([0.0, 0.5, 2.0, 7.0, 20.0], dtype=F64)


def _check_concentration_derivatives(cls: type, loc: torch.Tensor, kappa: torch.Tensor,
                                     x: torch.Tensor) -> None:
    """log_prob under vmap of grad, and jacrev / jacfwd / hessian of the KL to the uniform and of
    log_prob in κ against autograd, for a (loc, concentration) family."""
    _check_grad_vmap(lambda m, k, v: cls(m, k).log_prob(v), loc, kappa, x)
    for fn in (lambda k: cls(loc, k).kl_to_uniform(), lambda k: cls(loc, k).log_prob(x)):
        expected = torch.autograd.functional.jacobian(fn, kappa)
        _close(jacrev(fn)(kappa), expected)
        _close(jacfwd(fn)(kappa), expected)
        _close(hessian(lambda k, fn=fn: fn(k).sum())(kappa),
               torch.autograd.functional.hessian(lambda k, fn=fn: fn(k).sum(), kappa))


def test_vmf_kl_and_log_prob() -> None:
    loc = _unit(B, P, seed=8)
    x = _unit(B, P, seed=9)
    kappa = KAPPAS

    def kl(k: torch.Tensor) -> torch.Tensor:
        return VonMisesFisher(loc[0], k).kl_to_uniform()

    _check_grad_vmap(kl, kappa)
    _check_concentration_derivatives(VonMisesFisher, loc, kappa, x)

    # the derivatives' own derivatives run after the vmap that created the values has ended
    def batched(k: torch.Tensor) -> torch.Tensor:
        return vmap(lambda m, c, v: VonMisesFisher(m, c).log_prob(v))(loc, k, x).sum()

    _close(grad(batched)(kappa), _autograd(batched, kappa)[0])
    _close(hessian(batched)(kappa), torch.autograd.functional.hessian(batched, kappa))
    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):
        jacrev(hessian(lambda k: VonMisesFisher(loc, k).entropy().sum()))(kappa)
    with pytest.raises(RuntimeError, match=NESTED_FORWARD):
        jacfwd(jacfwd(lambda k: VonMisesFisher(loc, k).kl_to_uniform()))(kappa)


def test_vmf_implicit_gradient_for_fixed_samples() -> None:
    """_ImplicitS with the draws s fixed: the implicit reparameterization gradient ds/dκ under
    grad, vmap and forward mode."""
    kappa = KAPPAS + 0.3
    s = torch.tensor([0.9, 0.4, 0.3, 0.05, 0.01], dtype=F64)
    ratio_comp = vmf_terms(P, kappa).ratio_comp

    def implicit(k: torch.Tensor, t: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _ImplicitS.call(k, t, b, P)

    expected = _autograd(lambda k: implicit(k, s, ratio_comp).sum(), kappa)[0]
    assert torch.all(expected < 0)  # s = 1 - μᵀx shrinks as κ grows
    _close(grad(lambda k: implicit(k, s, ratio_comp).sum())(kappa), expected)
    _close(vmap(implicit)(kappa, s, ratio_comp), s)
    _close(vmap(grad(implicit))(kappa, s, ratio_comp), expected)
    _close(jacfwd(lambda k: implicit(k, s, ratio_comp))(kappa), torch.diag(expected))
    _close(jacrev(lambda k: implicit(k, s, ratio_comp))(kappa), torch.diag(expected))
    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):
        hessian(lambda k: implicit(k, s, ratio_comp).sum())(kappa)
    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):
        jacrev(jacrev(lambda k: implicit(k, s, ratio_comp).sum()))(kappa)


def test_vmf_rsample() -> None:
    loc = _unit(B, P, seed=10)
    kappa = KAPPAS + 1.0

    def drawn(m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(12)
        return ((VonMisesFisher(m, k).rsample((3,)) * _W).sum(-1) ** 2).sum()

    def sample(k: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(13)
        return VonMisesFisher(loc, k).rsample()

    _close(grad(drawn, argnums=(0, 1))(loc, kappa), _autograd(drawn, loc, kappa))
    # jacrev and jvp draw outside vmap: the same samples as autograd
    expected = torch.autograd.functional.jacobian(sample, kappa)
    _close(jacrev(sample)(kappa), expected)
    direction = torch.linspace(0.5, 1.5, B, dtype=F64)
    _close(jvp(sample, (kappa,), (direction,))[1], expected @ direction)
    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):  # d²s/dκ² is not implemented
        jacrev(jacrev(lambda k: drawn(loc, k)))(kappa)
    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):
        jacfwd(jacrev(lambda k: drawn(loc, k)), randomness="same")(kappa)

    # vmap: one exact draw per element with randomness="different", even for a shared κ
    rows = loc[:1].expand(B, P)
    for k in (kappa, kappa[2]):
        x = vmap(lambda m, c: VonMisesFisher(m, c).rsample((2,)),
                 in_dims=(0, 0 if k.dim() else None), randomness="different")(rows, k)
        assert x.shape == (B, 2, P)
        _close(torch.linalg.vector_norm(x, dim=-1), torch.ones(B, 2, dtype=F64))
        cos = x @ rows[0]
        assert torch.all(cos > -1) and torch.all(cos < 1)
        assert cos.unique().numel() == cos.numel()
    # per-sample gradients through the implicit gradient
    g = vmap(grad(lambda c: VonMisesFisher(rows[0], c).rsample() @ rows[0]),
             randomness="different")(kappa)
    assert g.shape == (B,) and torch.all(torch.isfinite(g))
    # "same": one draw for a κ shared by the batch; a batched κ cannot share a rejection stream
    x = vmap(lambda m: VonMisesFisher(m, kappa[1]).rsample(), randomness="same")(rows)
    _close(x, x[:1].expand(B, P))
    with pytest.raises(RuntimeError, match="randomness='same'"):
        vmap(lambda m, c: VonMisesFisher(m, c).rsample(), randomness="same")(rows, kappa)
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(lambda m, c: VonMisesFisher(m, c).rsample())(rows, kappa)


def test_vmf_rsample_nested_vmap() -> None:
    loc = _unit(P, seed=14)
    kappa = (KAPPAS + 1.0).expand(3, B)
    x = vmap(vmap(lambda c: VonMisesFisher(loc, c).rsample(), randomness="different"),
             randomness="different")(kappa)
    assert x.shape == (3, B, P)
    cos = x @ loc
    assert cos.unique().numel() == cos.numel()


# --------------------------------------------------------------------------- Power Spherical
def test_power_spherical() -> None:
    loc = _unit(B, P, seed=15)
    x = _unit(B, P, seed=16)
    kappa = KAPPAS

    def drawn(m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(17)
        return ((PowerSpherical(m, k).rsample((3,)) * _W).sum(-1) ** 2).sum()

    _close(grad(drawn, argnums=(0, 1))(loc, kappa + 0.5), _autograd(drawn, loc, kappa + 0.5))
    _check_grad_vmap(lambda k: PowerSpherical(loc[0], k).kl_to_uniform(), kappa)
    _check_concentration_derivatives(PowerSpherical, loc, kappa, x)

    def batched(k: torch.Tensor) -> torch.Tensor:
        return vmap(lambda m, c, v: PowerSpherical(m, c).log_prob(v))(loc, k, x).sum()

    _close(hessian(batched)(kappa), torch.autograd.functional.hessian(batched, kappa))
    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):
        jacrev(hessian(lambda k: PowerSpherical(loc, k).entropy().sum()))(kappa)
    rows = loc[:1].expand(B, P)
    z = vmap(lambda m: PowerSpherical(m, kappa[2]).rsample(), randomness="different")(rows)
    _close(torch.linalg.vector_norm(z, dim=-1), torch.ones(B, dtype=F64))
    assert not torch.allclose(z[0], z[1])
    z = vmap(lambda m: PowerSpherical(m, kappa[2]).rsample(), randomness="same")(rows)
    _close(z, z[:1].expand(B, P))


def test_known_derivative_without_second_derivative() -> None:
    """The vMF transverse variance has a first derivative and no second: forward and reverse mode
    give the first, and asking for the second raises."""
    loc = _unit(B, P, seed=18)
    kappa = KAPPAS + 0.1

    def variance(k: torch.Tensor) -> torch.Tensor:
        return VonMisesFisher(loc, k).variance

    expected = torch.autograd.functional.jacobian(variance, kappa)
    _close(jacrev(variance)(kappa), expected)
    _close(jacfwd(variance)(kappa), expected)
    _close(vmap(jacrev(lambda m, k: VonMisesFisher(m, k).variance, argnums=1))(loc, kappa),
           torch.stack([expected[i, :, i] for i in range(B)]))
    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):
        hessian(lambda k: variance(k).sum())(kappa)
    with pytest.raises(RuntimeError, match=NOT_IMPLEMENTED):
        jacrev(jacrev(lambda k: variance(k).sum()))(kappa)
