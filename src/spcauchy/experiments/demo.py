"""``spcauchy demo``: a spCauchy-VAE and a Gaussian VAE on MNIST (the ``demo`` preset), evaluated
and written up as one HTML report. Re-running resumes or reuses finished runs."""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError, load
from .evaluate import evaluate_run
from .report import write_report
from .train import train

FAMILIES = ("spcauchy", "normal")


def demo(out_dir: str | Path, overrides: list[str] | None = None) -> Path:
    if any(o.partition("=")[0].strip() == "family" for o in overrides or []):
        raise ConfigError(f"the demo trains {' and '.join(FAMILIES)}; family cannot be set "
                          "(use `spcauchy train --config demo --set family=...`)")
    out = Path(out_dir)
    runs = []
    for family in FAMILIES:
        cfg = load("demo", [*(overrides or []), f"family={family}"])
        run = out / f"{family}-d{cfg.latent_dim}"
        train(cfg, run, resume=True)
        evaluate_run(run)
        runs.append(run)
    note = (f"preset 'demo' ({cfg.epochs} epochs, d = {cfg.latent_dim}, IS-LL with "
            f"k = {cfg.eval_k} on the first {cfg.eval_limit or 'all'} test images); "
            "a short run for illustration, not the committed results/mnist table")
    return write_report(runs, out / "report.html", title="spcauchy demo: spCauchy vs Gaussian VAE",
                        note=note)
