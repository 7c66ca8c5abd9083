"""GRU SMILES VAE: shapes, dtypes, padding invariance, sampling, a short overfit; KL annealing."""

import itertools
import math
from typing import NamedTuple

import pytest
import torch

from spcauchy.experiments.annealing import SCHEDULES, kl_weight
from spcauchy.experiments.data.tokenizer import Tokenizer
from spcauchy.experiments.datasets.smiles import TokenSplit
from spcauchy.experiments.models.smiles_gru import (
    SmilesVAE,
    reverse_within_length,
    sequence_log_likelihood,
)
from spcauchy.latents import LATENTS

MOLECULES = [
    "CCO",
    "c1ccccc1",
    "CC(=O)Nc1ccc(O)cc1",
    "CCN(CC)CC",
    "O=C(O)c1ccccc1O",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "FC(F)(F)c1ccc(Cl)cc1",
]


class Batch(NamedTuple):
    tokens: torch.Tensor
    lengths: torch.Tensor


def _setup(dtype=torch.float32, **kwargs):
    torch.manual_seed(0)
    tok = Tokenizer.from_smiles(MOLECULES)
    split = TokenSplit.encode(MOLECULES, tok)
    lengths = torch.tensor([len(tok.tokenize(s)) + 2 for s in MOLECULES])  # with <bos>, <eos>
    batch = Batch(split.x, lengths)
    model = SmilesVAE(len(tok), "spcauchy", 4, embed_dim=16, hidden_dim=32, **kwargs).to(dtype)
    return tok, batch, model


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_shapes_and_dtypes(dtype, num_layers):
    tok, batch, model = _setup(dtype, num_layers=num_layers)
    assert torch.equal(model.lengths(batch.tokens), batch.lengths)
    h = model.encode(batch.tokens)
    assert h.shape == (8, 6) and h.dtype == dtype
    z = torch.randn(8, 5, dtype=dtype)
    logits = model.decode_logits(z, batch.tokens)
    assert logits.shape == (8, batch.tokens.shape[1] - 1, len(tok)) and logits.dtype == dtype
    ll = model.decoder_log_prob(batch.tokens, torch.stack([z, -z]))
    assert ll.shape == (2, 8) and (ll < 0).all() and ll.isfinite().all()
    torch.testing.assert_close(
        ll[0], sequence_log_likelihood(logits, batch.tokens[:, 1:], tok.pad_id))


def test_padding_is_ignored():
    """Encoding and likelihood of a molecule do not depend on the padding of its batch."""
    _, batch, model = _setup(torch.float64)
    i = 0  # the shortest molecule: most padding in the batch
    alone = batch.tokens[i:i + 1, : batch.lengths[i]]
    h_batch = model.encode(batch.tokens)[i]
    h_alone = model.encode(alone)[0]
    torch.testing.assert_close(h_batch, h_alone)
    z = torch.randn(1, 8, 5, dtype=torch.float64)
    ll_batch = model.decoder_log_prob(batch.tokens, z)[0, i]
    ll_alone = model.decoder_log_prob(alone, z[:, i:i + 1])[0, 0]
    torch.testing.assert_close(ll_batch, ll_alone)


def test_reverse_within_length_keeps_padding_in_place():
    tokens = torch.tensor([[1, 5, 6, 2, 0, 0], [1, 7, 8, 9, 9, 2], [1, 2, 0, 0, 0, 0]])
    out = reverse_within_length(tokens, torch.tensor([4, 6, 2]))
    assert out.tolist() == [[2, 6, 5, 1, 0, 0], [2, 9, 9, 8, 7, 1], [2, 1, 0, 0, 0, 0]]


def test_generate_shapes_greedy_and_temperature():
    tok, _, model = _setup()
    z = torch.randn(6, 5)
    greedy = model.generate(z, max_len=12)
    assert greedy.dtype == torch.long and greedy.shape[0] == 6 and greedy.shape[1] <= 12
    assert torch.equal(greedy, model.generate(z, max_len=12, temperature=0.0))
    g = torch.Generator().manual_seed(1)
    s1 = model.generate(z, max_len=12, temperature=1.0, generator=g)
    s2 = model.generate(z, max_len=12, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s1, s2) and s1.shape[0] == 6
    for row in torch.cat([greedy, s1[:, : greedy.shape[1]]]):  # after <eos> only <pad>
        eos = (row == tok.eos_id).nonzero()
        if len(eos):
            assert (row[eos[0, 0] + 1:] == tok.pad_id).all()
    assert all(isinstance(tok.decode(r.tolist()), str) for r in s1)


@pytest.mark.parametrize(("kwargs", "name"), [({"max_len": 0}, "max_len"),
                                              ({"max_len": 5, "temperature": -1.0},
                                               "temperature")])
def test_generate_invalid_arguments(kwargs, name):
    _, _, model = _setup()
    with pytest.raises(ValueError, match=name):
        model.generate(torch.randn(2, 5), **kwargs)


@pytest.mark.parametrize(("kwargs", "name"), [({"latent_dim": 0}, "latent_dim"),
                                              ({"family": "gauss"}, "family"),
                                              ({"embed_dim": 0}, "embed_dim"),
                                              ({"word_dropout": 1.0}, "word_dropout")])
def test_model_invalid_arguments(kwargs, name):
    args = {"vocab_size": 10, "family": "normal", "latent_dim": 3} | kwargs
    with pytest.raises(ValueError, match=name):
        SmilesVAE(**args)


def test_word_dropout_only_in_training():
    _, batch, model = _setup(word_dropout=0.5)
    z = torch.randn(8, 5)
    model.eval()
    torch.testing.assert_close(model.decode_logits(z, batch.tokens),
                               model.decode_logits(z, batch.tokens))
    model.train()
    assert not torch.equal(model.decode_logits(z, batch.tokens),
                           model.decode_logits(z, batch.tokens))


def test_overfits_eight_molecules():
    """As a deterministic autoencoder (z = h), the model memorises 8 molecules in 150 steps."""
    tok, batch, _ = _setup()
    torch.manual_seed(0)
    model = SmilesVAE(len(tok), "normal", 8, embed_dim=32, hidden_dim=64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        z = model.encode(batch.tokens)[:, :8]
        loss = -model.decoder_log_prob(batch.tokens, z[None]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    with torch.no_grad():
        out = model.generate(model.encode(batch.tokens)[:, :8], max_len=40)
    decoded = [tok.decode(r.tolist()) for r in out]
    assert sum(d == s for d, s in zip(decoded, MOLECULES, strict=True)) >= 6


@pytest.mark.parametrize("family", list(LATENTS))
def test_elbo_and_importance_log_likelihood_per_family(family):
    """model(batch) gives finite scalar terms with ELBO = -(recon + KL), gradients reach every
    parameter, and the IS estimate (k = 20) is at least the mean ELBO up to Monte-Carlo noise."""
    tok, batch, _ = _setup()
    model = SmilesVAE(len(tok), family, 3, embed_dim=8, hidden_dim=16)
    out = model({"x": batch.tokens})
    assert all(out[k].shape == () and out[k].isfinite() for k in ("loss", "recon", "kl", "elbo"))
    torch.testing.assert_close(out["elbo"], -(out["recon"] + out["kl"]))
    out["loss"].backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
    with torch.no_grad():
        ll = model.marginal_log_likelihood(batch.tokens, k=20, chunk=7)
        elbo = torch.stack([model.terms(batch.tokens)["elbo"] for _ in range(20)]).mean(0)
    assert ll.shape == (8,) and ll.isfinite().all() and (ll > elbo - 1.0).all()


def test_kl_weight_schedules():
    for name in SCHEDULES:
        ws = [kl_weight(s, schedule=name, warmup_steps=10, start=0.1, end=0.9) for s in range(31)]
        assert all(0.1 - 1e-12 <= w <= 0.9 + 1e-12 for w in ws)
    assert kl_weight(7, warmup_steps=4, end=0.1) == 0.1  # a β-VAE after the ramp
    lin = [kl_weight(s, warmup_steps=4) for s in range(6)]
    assert lin == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    sig = [kl_weight(s, schedule="sigmoid", warmup_steps=10) for s in range(12)]
    assert sig[0] == 0.0 and math.isclose(sig[5], 0.5) and sig[10] == sig[11] == 1.0
    assert all(a < b for a, b in itertools.pairwise(sig[:11]))
    cyc = [kl_weight(s, schedule="cyclical", warmup_steps=4) for s in range(9)]
    assert cyc == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 0.0]
    assert kl_weight(123, schedule="constant", warmup_steps=5) == 1.0


@pytest.mark.parametrize(("kwargs", "name"), [({"schedule": "cosine"}, "schedule"),
                                              ({"warmup_steps": 0}, "warmup_steps"),
                                              ({"step": -1}, "step"),
                                              ({"end": -0.5}, "KL weights"),
                                              ({"start": float("nan")}, "KL weights"),
                                              ({"end": float("inf")}, "KL weights")])
def test_kl_weight_invalid_arguments(kwargs, name):
    args = {"step": 0} | kwargs
    with pytest.raises(ValueError, match=name):
        kl_weight(**args)
