"""Every subcommand with bad arguments and bad files: one line on stderr, exit status 2, no
traceback, and no file changed."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import random
import shutil
from pathlib import Path

import pytest
import torch

from mnist_fake import write_fake_mnist
from spcauchy.experiments import checkpoint, files
from spcauchy.experiments.cli import main

TINY = ["hidden=[16, 8]", "batch_size=40", "epochs=1", "progress=false", "eval_k=2",
        "latent_dim=2"]


def _sets(*values: str) -> list[str]:
    return [a for v in values for a in ("--set", v)]


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return write_fake_mnist(tmp_path_factory.mktemp("data") / "mnist.pkl.gz")


@pytest.fixture(scope="module")
def run(fake, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--out", str(out), *_sets(f"data_path='{fake}'", *TINY)]) == 0
    assert main(["evaluate", str(out)]) == 0
    return out


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _fails_cleanly(argv: list[str], capsys, watch: Path, message: str = "") -> None:
    before = _snapshot(watch)
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spcauchy ") and "Traceback" not in err, err
    assert message in err, err
    assert "weights_only=False" not in err  # never advise loading untrusted pickles
    assert _snapshot(watch) == before


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _corrupt(kind: str, path: Path) -> None:
    """Replace checkpoint ``path`` by a bad file of the given kind."""
    good = torch.load(path, weights_only=True)
    path.unlink()
    writers = {
        "truncated": lambda: path.write_bytes(Path(str(path) + ".orig").read_bytes()[:500]),
        "random bytes": lambda: path.write_bytes(random.Random(0).randbytes(4096)),
        "empty": lambda: path.write_bytes(b""),
        "directory": lambda: path.mkdir(),
        "non-dict": lambda: torch.save([1, 2, 3], path),
        "missing keys": lambda: torch.save({"config": good["config"]}, path),
        "wrong shapes": lambda: torch.save(
            {**good, "model": {k: torch.zeros(3) for k in good["model"]}}, path),
        "bad config": lambda: torch.save({**good, "config": {"lr": "fast"}}, path),
        "malicious pickle": lambda: path.write_bytes(pickle.dumps(_Evil())),
    }
    writers[kind]()


BAD_FILES = ["truncated", "random bytes", "empty", "directory", "non-dict", "missing keys",
             "wrong shapes", "bad config", "malicious pickle"]


@pytest.mark.parametrize("kind", BAD_FILES)
def test_corrupt_checkpoints_in_every_command(run, fake, tmp_path, kind, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    for name in ("best.pt", "last.pt"):
        shutil.copy(bad / name, str(bad / name) + ".orig")
        _corrupt(kind, bad / name)
    commands = [["evaluate", str(bad)], ["sample", str(bad), "--out", str(bad / "s.png")],
                ["interpolate", str(bad), "--out", str(bad / "i.png")],
                ["report", str(bad), "--out", str(bad / "r.html")], ["cluster", str(bad)]]
    for argv in commands:
        _fails_cleanly(argv, capsys, bad)
    argv = ["train", "--out", str(bad), "--resume", *_sets(f"data_path='{fake}'", *TINY)]
    _fails_cleanly(argv, capsys, bad)


@pytest.mark.parametrize("override, message", [
    ("batch_size=0", "batch_size"), ("lr=-1", "lr"), ("lr=nan", "lr"), ("epochs=-1", "epochs"),
    ("optimizer='sgd'", "unknown optimizer"), ("dataset='cifar'", "unknown dataset"),
    ("device='cuda:7'", "device"), ("device='tpu'", "device"), ("hidden=[0, 3]", "hidden"),
    ("temperature=-1", "temperature"), ("word_dropout=1.5", "word_dropout"),
    ("precision='fp8'", "precision"), ("holdout='train'", "holdout"),
])
def test_invalid_config_values(fake, tmp_path, override, message, capsys):
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), *_sets(f"data_path='{fake}'", *TINY, override)]
    _fails_cleanly(argv, capsys, tmp_path, message)
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "{run}", "--k", "-5"], "--k must be ≥ 0"),
    (["evaluate", "{run}", "--limit", "-3"], "--limit must be ≥ 0"),
    (["sample", "{run}", "--temperature", "-1"], "--temperature"),
    (["sample", "{run}", "--temperature", "nan"], "--temperature"),
    (["interpolate", "{run}", "0", "99999"], "test-image indices"),
    (["interpolate", "{run}", "-1", "3"], "test-image indices"),
    (["interpolate", "{run}", "a", "b"], "test-image indices"),
    (["interpolate", "{run}", "--steps", "5000"], "--steps"),
    (["demo", "--out", "{tmp}/demo", "--set", "family=vmf"], "family cannot be set"),
    (["compare", "--out", "{tmp}/grid", "--jobs", "0"], "--jobs"),
    (["cluster", "{run}", "--k", "0"], "--k"),
])
def test_invalid_arguments(run, tmp_path, argv, message, capsys):
    argv = [a.format(run=run, tmp=tmp_path) for a in argv]
    _fails_cleanly(argv, capsys, run, message)
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("name, text", [("metrics.csv", "epoch,val_recon\n1,abc\n"),
                                        ("metrics.csv", "\x00\x01garbage"),
                                        ("test_metrics.json", "{not json"),
                                        ("test_metrics.json", "[1, 2]")])
def test_corrupt_run_tables_in_report_and_compare(run, fake, tmp_path, name, text, capsys):
    bad = tmp_path / "grid" / "spcauchy-d2-s0"
    shutil.copytree(run, bad)
    (bad / name).write_text(text)
    _fails_cleanly(["report", str(bad), "--out", str(bad / "r.html")], capsys, tmp_path, name)
    argv = ["compare", "--out", str(tmp_path / "grid"), "--families", "spcauchy", "--dims", "2",
            *_sets(f"data_path='{fake}'", *TINY)]
    _fails_cleanly(argv, capsys, tmp_path, name)


@pytest.mark.parametrize("text", ["{not json", "[1]", '{"trained_on": [1]}',
                                  '{"trained_on": "cpu"}'])
def test_corrupt_machine_record_in_compare(run, fake, tmp_path, text, capsys):
    bad = tmp_path / "grid" / "spcauchy-d2-s0"
    shutil.copytree(run, bad)
    (bad / "machine.json").write_text(text)
    argv = ["compare", "--out", str(tmp_path / "grid"), "--families", "spcauchy", "--dims", "2",
            *_sets(f"data_path='{fake}'", *TINY)]
    _fails_cleanly(argv, capsys, tmp_path, "machine.json")


def test_unwritable_output_is_one_line(fake, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    argv = ["train", "--out", str(blocker / "run"), *_sets(f"data_path='{fake}'", *TINY)]
    _fails_cleanly(argv, capsys, tmp_path)


def test_full_disk_loses_no_metrics(run, fake, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)

    def full(path, content):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("spcauchy.experiments.evaluate.write_atomic", full)
    before = _snapshot(copy)
    assert main(["evaluate", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left" in err and '"elbo"' in err  # metrics kept
    assert _snapshot(copy) == before
    monkeypatch.setattr("spcauchy.experiments.train.write_atomic", full)
    argv = ["train", "--out", str(tmp_path / "new"), *_sets(f"data_path='{fake}'", *TINY)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left" in err
    assert not (tmp_path / "new").exists()


def test_evaluate_with_other_k_keeps_the_runs_metrics(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    own = (copy / "test_metrics.json").read_bytes()
    assert main(["evaluate", str(copy), "--k", "1", "--limit", "10"]) == 0
    assert (copy / "test_metrics.json").read_bytes() == own
    assert (copy / "test_metrics.k1.n10.json").exists()


def test_temp_files_of_killed_writes_are_cleaned(run, tmp_path, fake):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    argv = ["train", "--out", str(copy), "--resume", *_sets(f"data_path='{fake}'", *TINY)]
    assert main(argv) == 0
    assert not list(copy.glob(".*.tmp"))


def test_atomic_write_never_follows_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for guess in ("metrics.csv.tmp", ".metrics.csv.tmp"):
        (tmp_path / guess).symlink_to(victim)
    files.write_atomic(tmp_path / "metrics.csv", "epoch\n1\n")
    assert victim.read_text() == "precious"
    assert (tmp_path / "metrics.csv").read_text() == "epoch\n1\n"


def test_second_training_process_on_one_directory_is_refused(fake, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    src = str(Path(__file__).resolve().parents[1] / "src")
    argv = [sys.executable, "-m", "spcauchy", "train", "--out", str(out),
            *_sets(f"data_path='{fake}'", *TINY)]
    with files.locked(out):  # another process is training here
        done = subprocess.run(argv, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": src})
    assert done.returncode == 2 and "in use by another process" in done.stderr
    assert done.stderr.count("\n") == 1 and not (out / "last.pt").exists()


def test_any_bytes_are_a_checkpoint_error(tmp_path):
    path = tmp_path / "x.pt"
    good = tmp_path / "good.pt"
    torch.save({"model": {"w": torch.ones(3)}}, good)
    blobs = [random.Random(seed).randbytes(n) for seed in range(300) for n in (1, 64, 4096)]
    whole = good.read_bytes()
    blobs += [whole[:n] for n in range(0, len(whole), 97)]  # every truncation length
    for blob in blobs:
        path.write_bytes(blob)
        with pytest.raises(checkpoint.CheckpointError):
            checkpoint.load(path)


def test_cluster_reports_agreement_and_draws_the_sphere(run, tmp_path, capsys):
    png = tmp_path / "clusters.png"
    assert main(["cluster", str(run), "--k", "3", "--restarts", "1", "--out", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert -1.0 <= out["adjusted_rand_index"] <= 1.0
    assert 0.0 <= out["normalized_mutual_information"] <= 1.0
    assert out["k"] == 3 and png.stat().st_size > 0
