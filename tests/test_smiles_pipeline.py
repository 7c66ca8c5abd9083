"""SMILES VAEs through the shared loop and CLI: a training step per family on real MOSES molecules,
resume, sampling shapes, interpolation, evaluation with the metric table, and the report."""

import json

import pytest
import torch

from packages import needs
from spcauchy.experiments import checkpoint
from spcauchy.experiments.cli import main
from spcauchy.experiments.compare import write_tables
from spcauchy.experiments.config import ConfigError, load
from spcauchy.experiments.data.tokenizer import Tokenizer
from spcauchy.experiments.datasets import load_run
from spcauchy.experiments.datasets.base import check_same_data
from spcauchy.experiments.datasets.smiles import (
    DATASET,
    TokenSplit,
    encode_smiles,
    interpolate,
    load_bundle,
    sample,
    tokenizer_of,
)
from spcauchy.experiments.rundir import read_config
from spcauchy.experiments.train import train
from spcauchy.latents import LATENTS

pytestmark = needs("molsets")

TINY = ["train_limit=120", "eval_limit=12", "hidden=[16]", "embed_dim=8", "latent_dim=3",
        "epochs=1", "batch_size=32", "progress=false", "kl_warmup=4", "eval_k=3"]


@pytest.fixture(scope="module")
def bundle():
    return load_bundle("moses", n_train=120, max_len=100, n_test=12)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smiles") / "run"
    assert main(["train", "--preset", "smiles-moses", "--out", str(out),
                 *(a for kv in TINY for a in ("--set", kv))]) == 0
    return out


def test_bundle_is_fixed_and_counted(bundle):
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (120, 6, 12)
    again = load_bundle("moses", n_train=120, max_len=100, n_test=12)
    assert again.train.smiles == bundle.train.smiles  # the subset does not depend on the run
    assert bundle.info["train_selection"]["kept"] == 126
    tok = Tokenizer(bundle.config["vocab"])
    assert all(tok.decode(row.tolist()) == s
               for row, s in zip(bundle.train.x, bundle.train.smiles, strict=True))
    batch = next(bundle.train.batches(7))["x"]
    assert batch.shape[0] == 7 and (batch[:, -1] != 0).any()  # cut to the longest molecule


@pytest.mark.parametrize("family", list(LATENTS))
def test_one_training_epoch_per_family(family, bundle, tmp_path):
    cfg = load("smiles-moses", [*TINY, f"family={family}"])
    history = train(cfg, tmp_path / family, data=bundle)
    assert len(history) == 1
    assert all(torch.isfinite(torch.tensor(v)) for v in history[0].values())
    saved = checkpoint.load(tmp_path / family / "last.pt")["config"]
    assert saved["vocab"] == bundle.config["vocab"]  # the model can be rebuilt without data


def test_resume_with_the_vocabulary_from_the_checkpoint(run, tmp_path):
    assert main(["train", "--preset", "smiles-moses", "--out", str(run), "--resume",
                 *(a for kv in TINY for a in ("--set", kv)), "--set", "epochs=2"]) == 0
    assert len(checkpoint.load(run / "last.pt")["state"]["history"]) == 2


def test_sampling_shapes_and_temperature(run):
    cfg, model = (r := load_run(run)).cfg, r.model
    tok = tokenizer_of(cfg)
    s1 = sample(model, tok, 25, max_len=12, temperature=1.0, seed=3, batch_size=10)
    assert len(s1) == 25 and all(isinstance(s, str) for s in s1)
    assert s1 == sample(model, tok, 25, max_len=12, temperature=1.0, seed=3, batch_size=10)
    greedy = sample(model, tok, 5, max_len=12, temperature=0.0)
    assert len(greedy) == 5
    with pytest.raises(ValueError, match="n must"):
        sample(model, tok, 0, max_len=12)


def test_interpolation_ends_and_errors(run):
    cfg, model = (r := load_run(run)).cfg, r.model
    tok = tokenizer_of(cfg)
    path = interpolate(model, tok, "CCO", "c1ccccc1O", 5, max_len=30)
    assert len(path) == 5
    with pytest.raises(ValueError, match="not a valid SMILES"):
        encode_smiles(tok, ["C1CC"])
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        encode_smiles(tok, ["C[Xe]"])
    assert isinstance(encode_smiles(tok, ["CCO"]), TokenSplit)


def test_cli_sample_interpolate_evaluate_report(run, tmp_path, capsys):
    smi = tmp_path / "x.smi"
    assert main(["sample", str(run), "-n", "30", "--out", str(smi)]) == 0
    assert len(smi.read_text().splitlines()) == 30
    png = tmp_path / "path.png"
    assert main(["interpolate", str(run), "CCO", "c1ccccc1O", "--steps", "4",
                 "--out", str(png)]) == 0
    assert png.stat().st_size > 0 and "valid between the ends" in capsys.readouterr().out
    assert main(["interpolate", str(run), "CCO", "C1CC"]) == 2
    assert "not a valid SMILES" in capsys.readouterr().err
    table = tmp_path / "table.md"
    assert main(["evaluate", str(run), "--samples", "40", "--reference-size", "60",
                 "--table", str(table)]) == 0
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert {"recon_accuracy", "interp_valid", "interp_distinct", "active_units_scaled",
            "log_lik"} <= set(metrics)
    assert 0.0 <= metrics["interp_distinct"] <= 1.0
    assert 0.0 <= metrics["recon_accuracy"] <= 1.0 and metrics["n"] == 12
    text = table.read_text()
    assert "train subsample" in text and "FCD/Test" in text and "SNN/TestSF" in text
    assert "recon_accuracy" in text.split("prior samples")[0]  # held-out table first
    rows = json.loads(table.with_suffix(".json").read_text())
    assert rows["train subsample"]["valid"] == 1.0
    assert (tmp_path / "table.run.smi").exists()
    html = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(html), "--table", str(table)]) == 0
    page = html.read_text()
    assert "interpolation" in page and "train subsample" in page
    assert (run / "samples.png").exists()


def test_table_only_reuses_the_test_metrics(run, tmp_path, capsys):
    """``--table-only``: the MOSES table alone; test_metrics.json is read, never rewritten."""
    if not (run / "test_metrics.json").exists():
        assert main(["evaluate", str(run), "--samples", "0"]) == 0
        capsys.readouterr()  # its printed metrics are not what is checked below
    before = (run / "test_metrics.json").stat().st_mtime_ns
    table = tmp_path / "only.md"
    assert main(["evaluate", str(run), "--table-only", "--samples", "30", "--reference-size",
                 "40", "--table", str(table)]) == 0
    assert (run / "test_metrics.json").stat().st_mtime_ns == before
    assert "train subsample" in table.read_text() and '"run"' not in capsys.readouterr().out
    for extra, message in ((["--k", "5"], "drop --k"), (["--samples", "0"], "needs --samples")):
        assert main(["evaluate", str(run), "--table-only", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_table_only_scores_a_run_without_weights_from_its_recorded_samples(run, tmp_path,
                                                                           capsys):
    """A committed cell has no checkpoint: --table-only reads the samples the first table drew."""
    if not (run / "test_metrics.json").exists():
        assert main(["evaluate", str(run), "--samples", "0"]) == 0
    kept = tmp_path / "kept"  # the run's files without best.pt / last.pt
    kept.mkdir()
    for name in ("config.json", "metrics.csv", "test_metrics.json"):
        (kept / name).write_bytes((run / name).read_bytes())
    table = tmp_path / "t.md"
    args = ["--table-only", "--samples", "30", "--reference-size", "40", "--table", str(table)]
    assert main(["evaluate", str(kept), *args]) == 2  # nothing recorded yet
    err = capsys.readouterr().err
    assert "recorded samples file" in err and "is missing" in err and err.count("\n") == 1
    # the first table, from the weights, records the samples; the second reads them back
    assert main(["evaluate", str(run), *args]) == 0
    (tmp_path / "t.run.smi").rename(tmp_path / "t.kept.smi")
    first = json.loads(table.with_suffix(".json").read_text())["run"]
    assert main(["evaluate", str(kept), *args]) == 0
    assert json.loads(table.with_suffix(".json").read_text())["kept"] == first
    assert "Read from the samples recorded" in table.read_text()
    lines = (tmp_path / "t.kept.smi").read_text().split("\n")
    (tmp_path / "t.kept.smi").write_text("\n".join(lines[:10]) + "\n")
    assert main(["evaluate", str(kept), *args]) == 2
    err = capsys.readouterr().err
    assert "holds 10, not 30" in err and "Traceback" not in err
    (tmp_path / "t.kept.smi").write_bytes(b"\xff\xfe\x00garbage\n")
    assert main(["evaluate", str(kept), *args]) == 2
    err = capsys.readouterr().err
    assert "not a text file of SMILES" in err and err.count("\n") == 1


def test_grid_tables_of_molecule_runs(run, tmp_path):
    """A compare grid of SMILES cells: nats per molecule and the molecule metrics per cell."""
    if not (run / "test_metrics.json").exists():
        assert main(["evaluate", str(run), "--samples", "40", "--reference-size", "60"]) == 0
    cell = tmp_path / "grid" / "spcauchy-d3-s0"
    cell.mkdir(parents=True)
    for name in ("config.json", "metrics.csv", "test_metrics.json"):
        (cell / name).write_bytes((run / name).read_bytes())
    write_tables(tmp_path / "grid", read_config(cell))
    text = (tmp_path / "grid" / "results.md").read_text()
    assert "Nats per molecule" in text and "n molecules" in text and "image" not in text
    assert "| exact recon | valid interp. | distinct interp. |" in text
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert f"| spcauchy | 3 | 0 | {metrics['active_units_scaled']} |" in text

def test_one_table_needs_runs_on_the_same_molecules():
    a = load("smiles-moses")
    check_same_data([a, load("smiles-moses", ["family=normal", "lr=3e-4"])], DATASET.same_data)
    with pytest.raises(ConfigError, match="train_limit"):
        check_same_data([a, load("smiles-moses", ["train_limit=5000"])], DATASET.same_data)


def test_tradeoff_plot_of_committed_runs_and_missing_tables(tmp_path):
    """scripts/smiles_tradeoff.py draws the committed GRU cell; a grid without its MOSES table
    is one line on stderr and exit 2, and no picture is written."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = [sys.executable, str(root / "scripts" / "smiles_tradeoff.py")]
    out = tmp_path / "tradeoff.png"
    done = subprocess.run([*script, str(root / "results/smiles/paper-gru"), "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and out.stat().st_size > 1000, done.stderr
    bad = subprocess.run([*script, str(tmp_path / "none"), "--out", str(tmp_path / "x.png")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.png").exists()
