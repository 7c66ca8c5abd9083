"""A self-contained HTML report (plots embedded as base64 PNGs) of one or more runs."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from . import plots
from .evaluate import load_run

_METRICS = ("log_lik", "elbo", "recon", "kl", "active_units", "k", "n")
_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        "img{max-width:100%}")


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def _table(runs: list[Path]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("run", "family", "d", "epochs", *_METRICS))
    rows = []
    for run in runs:
        cfg, _ = load_run(run)
        mfile = run / "test_metrics.json"
        m = json.loads(mfile.read_text()) if mfile.exists() else {}
        epochs = sum(1 for _ in (run / "metrics.csv").open()) - 1
        cells = [run.name, cfg.family, cfg.latent_dim, epochs]
        cells += [f"{m[k]:.2f}" if isinstance(m.get(k), float) else m.get(k, "–")
                  for k in _METRICS]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(run_dirs: list[str | Path], out: str | Path, title: str = "spcauchy report",
                 note: str = "") -> Path:
    """Tables (test metrics), training curves and, per run, reconstructions, prior samples,
    an interpolation and the latent map. PNGs are written next to each run."""
    runs = [Path(r) for r in run_dirs]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(note)}</p>" if note else "",
             "<h2>Test metrics (nats per image; log_lik = IS estimate with k samples)</h2>",
             _table(runs), "<h2>Training curves</h2>",
             _img(plots.save_curves(runs, out.with_suffix(".curves.png")))]
    for run in runs:
        figs = [plots.save_reconstructions(run, run / "reconstructions.png"),
                plots.save_samples(run, run / "samples.png"),
                plots.save_interpolation(run, run / "interpolation.png"),
                plots.save_latent_map(run, run / "latent_map.png")]
        parts += [f"<h2>{html.escape(run.name)}</h2>", *(_img(f) for f in figs)]
    body = "\n".join(parts)
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>"
                   f"{html.escape(title)}</title><style>{_CSS}</style></head>"
                   f"<body>{body}</body></html>\n")
    return out
