"""The spCauchy paper's MNIST protocol (preset mnist-cnn): the authors' network, heads and recipe,
and the mechanisms it needs (per-dimension recipes, lr warm-up, test holdout, bf16, grids)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from mnist_fake import write_fake_mnist
from spcauchy.experiments import checkpoint
from spcauchy.experiments.compare import finished_cells, run_grid
from spcauchy.experiments.config import ConfigError, load
from spcauchy.experiments.datasets import build_model, load_run, mnist
from spcauchy.experiments.evaluate import evaluate_run
from spcauchy.experiments.files import locked
from spcauchy.experiments.train import RunInUseError, train

# The authors' parameter counts at d = 2 (lsablica/SC-VAE, experiments/mnist/vae.py).
PARAMS_D2 = {"normal": 1_214_693, "spcauchy": 1_214_821, "vmf": 1_214_821, "power": 1_214_821}


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return write_fake_mnist(tmp_path_factory.mktemp("data") / "mnist.pkl.gz")


def _cnn(family, d=2, *extra):
    return build_model(load("mnist-cnn", [f"family={family}", f"latent_dim={d}", *extra]))


@pytest.mark.parametrize("family", sorted(PARAMS_D2))
def test_parameter_count_is_the_authors(family):
    assert sum(p.numel() for p in _cnn(family).parameters()) == PARAMS_D2[family]


def test_layer_shapes_are_the_authors():
    model = _cnn("spcauchy")
    x = torch.rand(2, 784)
    shapes = []
    h = x
    for layer in model.encoder:
        h = layer(h)
        if isinstance(layer, torch.nn.Conv2d):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(32, 14, 14), (64, 7, 7), (128, 3, 3)]
    assert [m.out_features for m in model.encoder if isinstance(m, torch.nn.Linear)] == [128, 4]
    z = torch.randn(2, 3)
    shapes = []
    for layer in model.decoder:
        z = layer(z)
        if isinstance(layer, torch.nn.Linear | torch.nn.ConvTranspose2d | torch.nn.Conv2d):
            shapes.append(tuple(z.shape[1:]))
    assert shapes == [(128,), (6272,), (64, 14, 14), (32, 28, 28), (1, 28, 28)]


def test_heads_are_the_authors():
    h = torch.linspace(-3, 3, 7).repeat(2, 1)[:, :4]  # d = 2: location (3) + one parameter
    assert _cnn("spcauchy").encoder[-1].bias[-1].item() == 2.0
    assert _cnn("power").encoder[-1].bias[-1].item() == 0.0
    q = _cnn("power").latent.posterior(h, 2)
    assert torch.allclose(q.concentration, F.softplus(h[:, 3]))
    q = _cnn("vmf").latent.posterior(h, 2)
    assert torch.allclose(q.concentration, F.softplus(h[:, 3]) + 1)
    q = _cnn("spcauchy").latent.posterior(h, 2)
    assert torch.allclose(q.rho, torch.sigmoid(h[:, 3]))
    g = torch.randn(5, 4)
    q = _cnn("normal").latent.posterior(g, 2)  # Gaussian: h[:, 2:] is the log-variance
    assert torch.allclose(q.base_dist.scale, torch.exp(0.5 * g[:, 2:]) + 1e-5)


def test_bernoulli_likelihood_from_logits_is_sigmoid_bce():
    model = _cnn("spcauchy")
    x = torch.rand(6, 784)  # grey levels, as in the paper's protocol
    z = model.posterior(x).rsample((1,))
    ours = -model.decoder_log_prob(x, z)[0]
    probs = torch.sigmoid(model.logits(z, x.shape[1:]))[0]
    theirs = F.binary_cross_entropy(probs, x, reduction="none").sum(-1)
    assert torch.allclose(ours, theirs, rtol=1e-5)


def test_per_dimension_recipe_lives_in_the_preset():
    recipe = {d: (load("mnist-cnn", latent_dim=d).lr, load("mnist-cnn", latent_dim=d).lr_warmup)
              for d in (2, 3, 5, 10, 20)}
    assert recipe == {2: (3e-4, 200), 3: (3e-4, 200), 5: (1e-4, 0), 10: (1e-4, 0),
                      20: (1e-4, 0)}
    assert load("mnist-cnn", ["latent_dim=3"]).lr == 3e-4  # the override picks the table too
    assert load("mnist-cnn", ["lr=5e-4"], latent_dim=2).lr == 5e-4  # overrides win
    cfg = load("mnist-cnn")
    assert (cfg.weight_decay, cfg.batch_size, cfg.epochs, cfg.optimizer) == (0.0, 128, 40, "adamw")
    assert (cfg.holdout, cfg.binarize, cfg.monitor, cfg.eval_model) == ("test", False, "recon",
                                                                        "last")


@pytest.mark.parametrize("text, match", [("[by_dim]\nx = 1\n", "keyed by a latent"),
                                         ("by_dim = 3\n", "table of"),
                                         ("[by_dim.2]\nlr = 'a'\n", "lr must be float")])
def test_bad_by_dim_tables(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load(str(path), latent_dim=2)


@pytest.mark.parametrize("override", ["precision=fp16", "holdout=train", "monitor=kl",
                                      "eval_model=first", "head=tanh"])
def test_bad_choices_are_config_errors(override):
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        build_model(load("mnist-cnn", [override]))


def test_test_holdout_trains_on_all_sixty_thousand_images(fake):
    a = mnist.load(str(fake), binarize=False, holdout="test")
    b = mnist.load(str(fake), binarize=False)
    assert len(a.train) == len(b.train) + len(b.val)
    assert torch.equal(a.val.x, a.test.x) and torch.equal(a.test.x, b.test.x)
    assert float(a.train.x.max()) <= 1.0
    # grey levels are k/255 (torchvision's ToTensor), the pickle's k/256 rescaled
    k = torch.round(a.train.x * 255)
    assert torch.allclose(a.train.x, k / 255, atol=1e-7)


def _tiny(fake, *extra):
    return load("mnist-cnn", [f"data_path='{fake}'", "hidden=[4, 4, 4]", "batch_size=20",
                              "epochs=2", "progress=false", "eval_k=5", *extra])


def test_lr_warmup_is_linear_in_steps(fake, tmp_path):
    # 160 training images / batch 20 = 8 steps per epoch; warm-up over 10 steps
    history = train(_tiny(fake, "lr=1e-3", "lr_warmup=10"), tmp_path / "run")
    assert history[0]["lr"] == pytest.approx(1e-3 * 8 / 10)
    assert history[1]["lr"] == pytest.approx(1e-3)


def test_bf16_keeps_the_latent_layer_in_float32():
    torch.manual_seed(0)
    fp32 = _cnn("spcauchy", 10)
    bf16 = _cnn("spcauchy", 10, "precision=bf16")
    bf16.load_state_dict(fp32.state_dict())
    x = torch.rand(16, 784)
    h = bf16._params(x)
    assert h.dtype == torch.float32
    torch.manual_seed(1)
    a = fp32.terms(x)
    torch.manual_seed(1)
    b = bf16.terms(x)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in b.values())
    assert torch.allclose(a["elbo"], b["elbo"], rtol=0.02)
    out = bf16({"x": x})
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in bf16.parameters())


def test_recon_monitor_and_final_model_evaluation(fake, tmp_path):
    run = tmp_path / "run"
    history = train(_tiny(fake, "epochs=4", "lr=3e-3"), run)
    best = min(history, key=lambda h: h["val_recon"])["epoch"]
    assert checkpoint.load(run / "best.pt")["epoch"] == best  # selected on the reconstruction
    model = load_run(run).model  # eval_model = "last": the final weights
    final = checkpoint.load(run / "last.pt")["model"]
    assert all(torch.equal(v, final[k]) for k, v in model.state_dict().items())
    assert evaluate_run(run, k=2)["weights"] == "last"


def test_grid_in_parallel_jobs_with_per_dimension_recipes(fake, tmp_path):
    configs = [load("mnist-cnn", [f"data_path='{fake}'", "hidden=[4, 4, 4]", "batch_size=40",
                                  "epochs=1", "progress=false", "eval_k=3", f"family={f}"],
                    latent_dim=d) for d in (2, 5) for f in ("normal", "spcauchy")]
    rows = run_grid(configs, tmp_path / "grid", jobs=2)
    assert sorted((r["family"], r["d"]) for r in rows) == [
        ("normal", 2), ("normal", 5), ("spcauchy", 2), ("spcauchy", 5)]
    saved = json.loads((tmp_path / "grid" / "spcauchy-d2-s0" / "config.json").read_text())
    assert (saved["lr"], saved["lr_warmup"]) == (3e-4, 200)
    assert all("best_recon" in r and r["best_epoch"] == 1 for r in rows)
    text = (tmp_path / "grid" / "results.md").read_text()
    assert "Paired per-seed difference" in text and "130.29 ± 0.40" in text
    assert "(best-recon.png)" in text and (tmp_path / "grid" / "best-recon.png").stat().st_size
    # the tables are rebuilt from the cells' small files alone (no checkpoints)
    for ck in (tmp_path / "grid").glob("*/*.pt"):
        ck.unlink()
    (tmp_path / "grid" / "results.md").unlink()
    run_grid(configs, tmp_path / "grid", train_cells=False)
    assert (tmp_path / "grid" / "results.md").read_text() == text
    # the table names the machine of its cells, and says where none was recorded
    assert f"torch {torch.__version__} (4 cells)." in text
    (tmp_path / "grid" / "normal-d5-s0" / "machine.json").unlink()
    run_grid(configs, tmp_path / "grid", train_cells=False)
    assert ("(3 cells); not recorded for 1 cell (trained before machines were recorded)."
            in (tmp_path / "grid" / "results.md").read_text())
    # a finished cell is reused only for the config it was run with
    other = [load("mnist-cnn", [f"data_path='{fake}'", "hidden=[4, 4, 4]", "batch_size=40",
                                "epochs=1", "progress=false", "eval_k=3", "family=normal",
                                "lr=0.5"], latent_dim=2)]
    with pytest.raises(ConfigError, match="lr"):
        run_grid(other, tmp_path / "grid")
    assert len(finished_cells(tmp_path / "grid")) == 4


def test_one_training_process_per_run_directory(fake, tmp_path):
    with locked(tmp_path / "run"), pytest.raises(RunInUseError, match="another process"):
        train(_tiny(fake), tmp_path / "run")
    assert not (tmp_path / "run" / "last.pt").exists()
