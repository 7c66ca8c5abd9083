"""Transformer SMILES VAE (the spCauchy paper's set-up): shapes, the non-autoregressive decoder,
the zero-memory decoder layer against nn.TransformerDecoderLayer, training through the shared
loop for every family, resume, the KL schedule in epochs and steps, sampling and the paper's
interpolation protocol, character tokens, and the MOSES selection."""

import copy
import csv
import dataclasses
import json

import pytest
import torch
from torch import nn

from packages import needs
from spcauchy.experiments import checkpoint
from spcauchy.experiments.compare import write_tables
from spcauchy.experiments.config import ConfigError, load
from spcauchy.experiments.data.split import DataBundle
from spcauchy.experiments.data.tokenizer import Tokenizer
from spcauchy.experiments.datasets import build_model, load_data, load_run
from spcauchy.experiments.datasets import smiles as smiles_data
from spcauchy.experiments.datasets.smiles import (
    TokenSplit,
    epoch_metrics,
    interpolate,
    interpolation_protocol,
    load_bundle,
    load_smiles,
    reconstruct,
    sample,
    select_smiles,
)
from spcauchy.experiments.evaluate import evaluate_run
from spcauchy.experiments.models.smiles_transformer import (
    TransformerSmilesVAE,
    ZeroMemoryDecoderLayer,
    sinusoidal_positions,
)
from spcauchy.experiments.rundir import read_config, read_history
from spcauchy.experiments.train import _beta, train
from spcauchy.latents import LATENTS

MOLECULES = [
    "CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C(O)c1ccccc1O",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "FC(F)(F)c1ccc(Cl)cc1",
    "CC(C)NCC(O)c1ccc(O)c(O)c1", "COc1ccc2[nH]cc(CCN)c2c1", "OCC1OC(O)C(O)C(O)C1O",
    "CC1=CC(=O)CCC1", "N#Cc1ccccc1", "CCOC(=O)C=C", "c1ccc2ccccc2c1", "CS(=O)(=O)N",
    "CC(=O)OCC", "Brc1ccccc1", "C1CCNCC1", "OC(=O)CCC(=O)O", "CCCCCCO", "c1ccncc1",
    "CC(N)C(=O)O", "O=C1NC(=O)C=C1", "CC#N", "COC", "C=CC=C", "ClCCl", "Oc1ccccc1", "CCS",
    "NC(=O)N", "CCCl", "C1CC1", "C1CCOC1", "O=Cc1ccccc1", "CC(C)=O",
]
TINY = ["embed_dim=16", "heads=2", "layers=1", "hidden=[8]", "latent_dim=3", "batch_size=8",
        "epochs=1", "progress=false", "eval_k=2", "kl_delay=1", "kl_warmup=2"]


def _tiny_model(family="spcauchy", vocab=20, seq_len=12, dropout=0.0, **kwargs):
    torch.manual_seed(0)
    return TransformerSmilesVAE(vocab, family, 3, seq_len=seq_len, d_model=16, n_heads=2,
                                n_layers=2, hidden=8, dropout=dropout, head="sc-vae", **kwargs)


def _bundle(n_val=8):
    """Molecules as one character per token (no data package needed)."""
    tok = Tokenizer.from_smiles(MOLECULES, "chars")
    train, val = MOLECULES[:-n_val], MOLECULES[-n_val:]
    splits = [TokenSplit.encode(part, tok) for part in (train, val)]
    return DataBundle(splits[0], splits[1], splits[1],
                      config={"vocab": tok.itos[4:]}, info={"n_val": n_val})


@pytest.fixture
def tiny_data(monkeypatch):
    """The in-memory bundle wherever a run loads its data (training, evaluation, metrics)."""
    data = _bundle()
    monkeypatch.setattr(smiles_data, "DATASET",
                        dataclasses.replace(smiles_data.DATASET, load=lambda cfg: data))
    return data


def _cfg(*extra):
    return load("smiles-paper", [*TINY, *extra])


# --- the network ---------------------------------------------------------------------------

def test_sinusoidal_positions():
    pe = sinusoidal_positions(75, 256)
    assert pe.shape == (75, 256)
    torch.testing.assert_close(pe[0, 0::2], torch.zeros(128))
    torch.testing.assert_close(pe[0, 1::2], torch.ones(128))
    pos, i = 7, 5  # feature pair i: sin / cos of pos / 10000^(2i / 256)
    angle = torch.tensor(pos / 10000 ** (2 * i / 256))
    torch.testing.assert_close(pe[pos, 2 * i], torch.sin(angle))
    torch.testing.assert_close(pe[pos, 2 * i + 1], torch.cos(angle))


def test_full_size_parameter_count():
    """The authors' model (vocabulary 36) has 12,342,437 parameters; the zero-memory layers drop
    the cross-attention's query/key/value weights and query/key biases, which never reach the
    output: 4 × (3 · 256² + 2 · 256)."""
    model = TransformerSmilesVAE(36, "spcauchy", 127, seq_len=75, head="sc-vae")
    assert sum(p.numel() for p in model.parameters()) == 12_342_437 - 4 * (3 * 256**2 + 512)
    assert model.to_params.bias[-1].item() == 2.0  # the spCauchy ρ-logit bias


@pytest.mark.parametrize("family", list(LATENTS))
def test_shapes(family):
    model = _tiny_model(family)
    fam = LATENTS[family]
    x = torch.tensor([[1, 5, 6, 7, 2, 0], [1, 8, 2, 0, 0, 0]])
    h = model.encode(x)
    assert h.shape == (2, fam.n_params(3)) and h.isfinite().all()
    z = torch.randn(2, fam.ambient(3))
    assert model.decode_logits(z).shape == (2, 12, 20)
    ll = model.decoder_log_prob(x, torch.stack([z, -z]))
    assert ll.shape == (2, 2) and (ll < 0).all()
    out = model({"x": x})
    assert set(out) == {"loss", "recon", "kl", "elbo"} and out["loss"].isfinite()


def test_log_lik_scores_every_non_pad_position_including_bos():
    model = _tiny_model().eval()
    x = torch.tensor([[1, 5, 6, 2, 0], [1, 8, 2, 0, 0]])
    z = torch.randn(1, 2, 4)
    logp = model.decode_logits(z[0]).log_softmax(-1)
    expected = torch.stack([logp[b, torch.arange(n), x[b, :n]].sum()
                            for b, n in enumerate((4, 3))])
    torch.testing.assert_close(model.decoder_log_prob(x, z)[0], expected)
    # the batch's padding width does not matter
    torch.testing.assert_close(model.decoder_log_prob(x[:, :4], z), model.decoder_log_prob(x, z))
    torch.testing.assert_close(model.encode(x[:, :4]), model.encode(x))
    with pytest.raises(ValueError, match="do not fit"):
        model.encode(torch.ones(1, 13, dtype=torch.long))


def test_log_lik_in_chunks(monkeypatch):
    import spcauchy.experiments.models.smiles_transformer as st

    model = _tiny_model().eval()
    x, z = torch.tensor([[1, 5, 6, 2], [1, 8, 2, 0]]), torch.randn(5, 2, 4)
    whole = model.decoder_log_prob(x, z)
    monkeypatch.setattr(st, "LOGLIK_CHUNK", 3)
    torch.testing.assert_close(model.decoder_log_prob(x, z), whole)


def test_decoder_produces_all_positions_at_once():
    model = _tiny_model().eval()
    z = torch.nn.functional.normalize(torch.randn(2, 4), dim=-1)
    a, b = model.decode_logits(z), model.decode_logits(z.flip(0))
    assert ((a[0] - b[0]).abs().amax(-1) > 1e-4).all()  # another z changes every position
    # no causal mask: the first position depends on the decoder input at the last position
    seq = (model.z_to_seq(z).view(2, 12, 16) + model.positions).requires_grad_()
    x = seq
    for layer in model.decoder:
        x = layer(x)
    grad, = torch.autograd.grad(model.to_logits(x)[:, 0].sum(), seq)
    assert grad[:, -1].abs().sum() > 0
    # greedy decoding is the argmax of that one pass (position t never runs t steps)
    ids = model.generate(z, 11)
    first_eos = (ids == model.eos_id).int().argmax(1)
    for row, stop in zip(range(2), first_eos, strict=True):
        argmax = a[row, 1:].argmax(-1)
        end = int(stop) + 1 if (ids[row] == model.eos_id).any() else 11
        assert torch.equal(ids[row, :end], argmax[:end])
        assert (ids[row, end:] == model.pad_id).all()


def test_generate_lengths_temperature_and_errors():
    model = _tiny_model().eval()
    z = torch.randn(5, 4)
    assert model.generate(z, 40).shape == (5, 11)  # seq_len - 1 positions after <bos>
    assert model.generate(z, 6).shape == (5, 6)
    draw = [model.generate(z, 11, 1.0, generator=torch.Generator().manual_seed(3))
            for _ in range(2)]
    assert torch.equal(*draw)
    with pytest.raises(ValueError, match="max_len"):
        model.generate(z, 0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(z, 5, -1.0)


def _copy_into_torch_layer(mine: ZeroMemoryDecoderLayer, d: int, heads: int, ff: int,
                           dropout: float) -> nn.TransformerDecoderLayer:
    ref = nn.TransformerDecoderLayer(d, heads, ff, dropout, batch_first=True)
    with torch.no_grad():
        ref.self_attn.load_state_dict(mine.self_attn.state_dict())
        ref.multihead_attn.in_proj_weight.normal_()  # reaches nothing with zero memory
        ref.multihead_attn.in_proj_bias.normal_()
        ref.multihead_attn.in_proj_bias[2 * d:] = mine.value_bias
        ref.multihead_attn.out_proj.load_state_dict(mine.out_proj.state_dict())
        for name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
            getattr(ref, name).load_state_dict(getattr(mine, name).state_dict())
    return ref


def test_zero_memory_layer_equals_torch_decoder_layer_in_eval():
    torch.manual_seed(1)
    mine = ZeroMemoryDecoderLayer(16, 4, 32, 0.1, memory_len=9)
    with torch.no_grad():  # non-trivial value and output biases
        mine.value_bias.normal_()
        mine.out_proj.bias.normal_()
    ref = _copy_into_torch_layer(mine, 16, 4, 32, 0.1)
    x, memory = torch.randn(3, 9, 16), torch.zeros(3, 9, 16)
    mine.eval(), ref.eval()
    torch.testing.assert_close(mine(x), ref(x, memory))
    with torch.no_grad():  # the inference fast path too
        torch.testing.assert_close(mine(x), ref(x, memory))
    # a stack of them is nn.TransformerDecoder with zero memory
    stack = nn.TransformerDecoder(copy.deepcopy(ref), 2)
    stack.layers[1] = _copy_into_torch_layer(mine, 16, 4, 32, 0.1)
    stack.eval()
    torch.testing.assert_close(mine(mine(x)), stack(x, memory))


def test_zero_memory_cross_attention_matches_attention_dropout_in_distribution():
    """In training, attention dropout on the uniform weights scales each head's value bias by
    Binomial(L, 1-p) / (L (1-p)) per query: mean and spread of the real block's output."""
    torch.manual_seed(2)
    d, heads, length, p, n = 8, 2, 6, 0.5, 20000
    mine = ZeroMemoryDecoderLayer(d, heads, 16, p, memory_len=length)
    with torch.no_grad():
        mine.value_bias.normal_()
        mine.out_proj.bias.normal_()
    ref = _copy_into_torch_layer(mine, d, heads, 16, p).multihead_attn
    mine.train(), ref.train()
    x = torch.randn(1, 1, d).expand(n, 1, d)
    with torch.no_grad():
        a = mine.cross_attention(x)[:, 0]
        b = ref(x, torch.zeros(n, length, d), torch.zeros(n, length, d), need_weights=False)[0]
    b = b[:, 0]
    torch.testing.assert_close(a.mean(0), b.mean(0), atol=0.03, rtol=0.03)
    torch.testing.assert_close(a.std(0), b.std(0), atol=0.03, rtol=0.05)
    assert a.std(0).max() > 0.1  # the noise is there to compare


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_encoder_is_the_same_function_in_training_and_inference():
    """Pad outputs are zeroed in every mode: equal to PyTorch's nested-tensor inference path."""
    model = _tiny_model(dropout=0.1).eval()
    x = torch.tensor([[1, 5, 6, 7, 2, 0, 0], [1, 8, 9, 2, 0, 0, 0]])
    with torch.no_grad():
        inference = model.encode(x)
    torch.testing.assert_close(model.encode(x), inference)  # with autograd: the slow path
    nested = nn.TransformerEncoder(copy.deepcopy(model.encoder.layers[0]), 2)
    nested.load_state_dict(model.encoder.state_dict())
    nested.eval()
    tokens = model.pad(x)
    with torch.no_grad():
        h = nested(model.embed(tokens) + model.positions,
                   src_key_padding_mask=tokens == model.pad_id)
        torch.testing.assert_close(model.to_params(model.to_hidden(h.flatten(1))), inference)


def test_bf16_precision_runs():
    model = _tiny_model(precision="bf16")
    x = torch.tensor([[1, 5, 6, 2], [1, 8, 2, 0]])
    out = model({"x": x})
    assert out["loss"].dtype == torch.float32 and out["loss"].isfinite()
    out["loss"].backward()
    assert model.to_params.weight.grad.isfinite().all()


def test_builder_checks_sizes():
    cfg = _cfg("vocab=['C', 'O']")
    assert isinstance(build_model(cfg), TransformerSmilesVAE)
    assert build_model(cfg).seq_len == 75
    with pytest.raises(ConfigError, match="hidden"):
        build_model(_cfg("vocab=['C']", "hidden=[8, 8]"))
    with pytest.raises(ConfigError, match="divisible"):
        build_model(_cfg("vocab=['C']", "heads=3"))
    with pytest.raises(ConfigError, match="dropout"):
        _cfg("dropout=1.0")


# --- training through the shared loop ------------------------------------------------------

@pytest.mark.parametrize("family", list(LATENTS))
def test_one_training_epoch_per_family(family, tmp_path, tiny_data):
    history = train(_cfg(f"family={family}"), tmp_path / family, data=tiny_data)
    assert len(history) == 1
    assert all(torch.isfinite(torch.tensor(v)) for v in history[0].values())
    saved = checkpoint.load(tmp_path / family / "last.pt")["config"]
    assert saved["vocab"] == tiny_data.config["vocab"] and saved["model"] == "transformer"


def _history(run):
    with (run / "metrics.csv").open() as fh:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]


def test_resume_reproduces_uninterrupted_run(tmp_path, tiny_data):
    full = _cfg("epochs=3", "family=vmf")
    train(full, tmp_path / "full", data=tiny_data)
    train(_cfg("epochs=1", "family=vmf"), tmp_path / "split", data=tiny_data)
    train(full, tmp_path / "split", resume=True, data=tiny_data)
    a, b = (checkpoint.load(tmp_path / r / "last.pt")["model"] for r in ("full", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _history(tmp_path / "full") == _history(tmp_path / "split")


def test_kl_schedule_in_epochs_and_steps():
    cfg = load("smiles-paper")  # β = 0 for 10 epochs, then 0.2 · (e - 10) / 15, then 0.2
    per_epoch = [_beta(cfg, 50 * e, 50) for e in range(30)]
    assert per_epoch[:10] == [0.0] * 10
    assert per_epoch[10] == pytest.approx(0.2 / 15) and per_epoch[24] == pytest.approx(0.2)
    assert per_epoch[25:] == [pytest.approx(0.2)] * 5
    assert per_epoch[17] == pytest.approx(0.2 * 8 / 15)
    assert {_beta(cfg, 50 * 12 + s, 50) for s in range(50)} == {per_epoch[12]}  # whole epoch
    steps = load("smiles-paper", ["kl_unit=steps", "kl_delay=3", "kl_warmup=4", "kl_end=1.0"])
    assert [_beta(steps, s, 50) for s in range(9)] == [0, 0, 0, 0, 0.25, 0.5, 0.75, 1, 1]
    default = load("smiles-moses")  # existing presets: no delay, steps
    assert (default.kl_delay, default.kl_unit) == (0, "steps")
    with pytest.raises(ConfigError, match="kl_unit"):
        load("smiles-paper", ["kl_unit=batches"])


def test_loop_trains_with_the_epoch_schedule(tmp_path, tiny_data):
    """Epoch 1 of a 5-epoch delay trains at β = 0: the same weights as a β = 0 run."""
    train(_cfg("kl_delay=5", "kl_end=1.0"), tmp_path / "delayed", data=tiny_data)
    train(_cfg("kl_schedule=constant", "kl_end=0.0"), tmp_path / "zero", data=tiny_data)
    train(_cfg("kl_schedule=constant", "kl_end=1.0", "kl_delay=0"), tmp_path / "one",
          data=tiny_data)
    w = {r: checkpoint.load(tmp_path / r / "last.pt")["model"]
         for r in ("delayed", "zero", "one")}
    assert all(torch.equal(w["delayed"][k], w["zero"][k]) for k in w["zero"])
    assert not all(torch.equal(w["one"][k], w["zero"][k]) for k in w["zero"])


def test_gru_model_takes_the_same_schedule(tmp_path):
    tok = Tokenizer.from_smiles(MOLECULES)
    data = DataBundle(*(TokenSplit.encode(MOLECULES, tok) for _ in range(3)),
                      config={"vocab": tok.itos[4:]})
    cfg = load("smiles-moses", ["hidden=[8]", "embed_dim=4", "latent_dim=2", "epochs=2",
                                "batch_size=8", "progress=false", "kl_unit=epochs",
                                "kl_delay=1", "kl_warmup=1", "kl_schedule=linear"])
    assert len(train(cfg, tmp_path / "gru", data=data)) == 2


# --- molecules from a trained run ------------------------------------------------------------

@pytest.fixture
def run(tmp_path, tiny_data):
    out = tmp_path / "run"
    train(_cfg("epochs=2", "samples=12"), out, data=tiny_data)
    return out


def test_sampling_reconstruction_interpolation(run, tiny_data):
    cfg, model = (r := load_run(run)).cfg, r.model
    tok = Tokenizer(cfg.vocab, cfg.representation)
    greedy = sample(model, tok, 7, max_len=cfg.max_len + 1, temperature=0.0, batch_size=3)
    warm = sample(model, tok, 7, max_len=cfg.max_len + 1, temperature=1.0, seed=1)
    assert len(greedy) == len(warm) == 7 and all(isinstance(s, str) for s in greedy + warm)
    assert warm == sample(model, tok, 7, max_len=cfg.max_len + 1, temperature=1.0, seed=1)
    assert len(reconstruct(model, tok, tiny_data.val, max_len=74)) == len(tiny_data.val)
    assert len(interpolate(model, tok, "CCO", "c1ccccc1", 5, max_len=74)) == 5


def test_interpolation_protocol_keys_and_ranges(run, tiny_data):
    cfg, model = (r := load_run(run)).cfg, r.model
    tok = Tokenizer(cfg.vocab, cfg.representation)
    out = interpolation_protocol(model, tok, tiny_data.val, max_len=74, pairs=6)
    for c in ("0.5", "0.2", "0"):
        assert 0 <= out[f"sc_interp_le_{c}_pairs"] <= 6
        if out[f"sc_interp_le_{c}_pairs"]:
            assert 0.0 <= out[f"sc_interp_le_{c}"] <= 1.0 and out[f"sc_interp_le_{c}_std"] >= 0
    assert 0.0 <= out["interp_valid"] <= 1.0 and 0.0 <= out["interp_distinct"] <= 1.0
    bins = [out[f"interp_pairs_bin_{b}"] for b in ("le_0", "0_0.2", "0.2_0.5", "gt_0.5")]
    assert sum(bins) == 6  # every unconstrained pair falls in one bin
    # the same seed gives the same numbers
    again = interpolation_protocol(model, tok, tiny_data.val, max_len=74, pairs=6)
    assert json.dumps(again) == json.dumps(out)


def test_evaluation_writes_the_paper_metrics(run):
    metrics = evaluate_run(run, device="cpu")
    saved = json.loads((run / "test_metrics.json").read_text())
    assert json.dumps(saved) == json.dumps(metrics)
    for key in ("recon_accuracy", "recon_accuracy_train", "recon_string_accuracy",
                "recon_string_accuracy_train", "sc_interp_le_0.5", "sc_interp_le_0",
                "interp_valid", "interp_valid_bin_le_0", "log_lik", "active_units_scaled"):
        assert key in metrics
    assert 0.0 <= metrics["recon_accuracy_train"] <= 1.0
    assert metrics["recon_string_accuracy"] <= metrics["recon_accuracy"]
    assert metrics["n"] == 8 and metrics["weights"] == "last"


def test_held_out_reconstruction_follows_every_epoch(run, tiny_data):
    """The preset records exact reconstruction of the validation molecules after each epoch:
    the final row is the trained model's own score."""
    rows = read_history(run)
    assert len(rows) == 2 and all(0.0 <= r["val_recon_accuracy"] <= 1.0 for r in rows)
    r = load_run(run)
    assert rows[-1]["val_recon_accuracy"] == epoch_metrics(r.model, r.cfg, tiny_data.val)[
        "recon_accuracy"]


def test_epoch_metrics_off_or_undefined(tmp_path, tiny_data):
    history = train(_cfg("epoch_metrics=false"), tmp_path / "off", data=tiny_data)
    assert "val_recon_accuracy" not in history[0]
    with pytest.raises(ConfigError, match="defines no per-epoch metrics"):  # before any data
        train(load("mnist-cnn", ["epoch_metrics=true", "data_path=/nonexistent"]),
              tmp_path / "mnist")


def test_grid_draws_the_learning_curve(run, tmp_path):
    cell = tmp_path / "grid" / "spcauchy-d3-s0"
    cell.mkdir(parents=True)
    evaluate_run(run, device="cpu")
    for name in ("config.json", "metrics.csv", "test_metrics.json"):
        (cell / name).write_bytes((run / name).read_bytes())
    write_tables(tmp_path / "grid", read_config(cell))
    text = (tmp_path / "grid" / "results.md").read_text()
    assert "](curve-recon_accuracy.png)" in text and "Held-out exact recon" in text
    assert "](curve-recon.png)" in text and "Held-out reconstruction (nats per molecule)" in text
    for name in ("recon_accuracy", "recon"):
        assert (tmp_path / "grid" / f"curve-{name}.png").stat().st_size > 1000


# --- tokens and data -----------------------------------------------------------------------

def test_char_tokenizer_round_trip(tmp_path):
    tok = Tokenizer.from_smiles(MOLECULES, "chars")
    for s in MOLECULES:
        assert tok.tokenize(s) == list(s)
        assert tok.decode(tok.encode(s)) == s
    assert "Cl" not in tok.itos and {"C", "l", "[", "H"} <= set(tok.itos)
    with pytest.raises(ValueError, match="cannot tokenize"):
        tok.tokenize("CC O")
    # a run keeps its vocabulary in the config and rebuilds the tokenizer from it
    assert Tokenizer(tok.itos[4:], "chars") == tok
    kept, stats = select_smiles(["CCO", "C" * 10, "CC(Cl)C"], max_len=7, representation="chars")
    assert kept == ["CCO", "CC(Cl)C"] and stats.too_long == 1  # 7 characters, 6 regex tokens


def test_unknown_holdout_is_refused_before_reading_data():
    with pytest.raises(ValueError, match="holdout"):
        load_bundle("moses", n_train=10, max_len=10, holdout="val")


@needs("molsets")
def test_moses_selection_sizes_and_character_filter():
    data = load_data(load("smiles-paper"))
    assert (len(data.train), len(data.val)) == (12698, 3175) and data.test is data.val
    assert data.info["train_selection"]["kept"] == 15873
    assert data.info["test_selection"] == "the validation split"
    every = data.train.smiles + data.val.smiles
    assert len(set(every)) == 15873 and max(map(len, every)) <= 73
    assert data.train.x.shape[1] <= 75 and all(len(t) == 1 for t in data.config["vocab"])
    # the filter counts characters: on real molecules a tighter bound binds
    pool = load_smiles("moses", "train")[:3000]
    kept, stats = select_smiles(pool, max_len=40, representation="chars")
    assert stats.too_long > 0 and max(map(len, kept)) <= 40
    assert len(kept) + stats.too_long + stats.malformed == 3000
