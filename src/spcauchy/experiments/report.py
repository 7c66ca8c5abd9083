"""A self-contained HTML report (plots embedded as base64 PNGs) of one or more runs."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from . import plots
from .datasets import Run, dataset, load_run
from .files import write_atomic
from .rundir import read_history, read_test_metrics

_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 8px}"
        "table{border-collapse:collapse;font-size:14px;margin-bottom:12px}"
        "caption{text-align:left;font-weight:bold;padding:4px 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}")


def _tables(paths: list[str | Path]) -> list[str]:
    """Markdown tables (e.g. from ``spcauchy evaluate --samples``), shown as written."""
    return [f"<h3>{html.escape(Path(p).name)}</h3><pre>{html.escape(Path(p).read_text())}</pre>"
            for p in paths]


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def _table(runs: list[Run]) -> str:
    """One table per dataset among ``runs``, with that dataset's own metric columns."""
    by_dataset: dict[str, list[list[object]]] = {}
    columns, units = {}, {}
    for run in runs:
        cfg, m = run.cfg, read_test_metrics(run.dir)
        columns[cfg.dataset], units[cfg.dataset] = dataset(cfg).columns, dataset(cfg).unit
        cells = [run.dir.name, cfg.family, cfg.latent_dim, len(read_history(run.dir))]
        cells += [f"{m[k]:.2f}" if isinstance(m.get(k), float) else m.get(k, "–")
                  for _, k in columns[cfg.dataset]]
        by_dataset.setdefault(cfg.dataset, []).append(cells)
    tables = []
    for name, rows in by_dataset.items():
        labels = ("run", "family", "d", "epochs", *(label for label, _ in columns[name]))
        head = "".join(f"<th>{html.escape(h)}</th>" for h in labels)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
                       + "</tr>" for row in rows)
        caption = html.escape(f"{name}: nats per {units[name]}")
        tables.append(f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>")
    return "".join(tables)


def write_report(run_dirs: list[str | Path], out: str | Path, title: str = "spcauchy report",
                 note: str = "", tables: list[str | Path] = ()) -> Path:
    """Tables (test metrics), training curves and, per run, its dataset's ``figures`` (MNIST:
    reconstructions, prior samples, an interpolation, the latent map; molecules: prior samples,
    an interpolation, and the metric table if ``spcauchy evaluate --samples`` wrote one into the
    run), after the markdown files ``tables``.
    PNGs are written next to each run."""
    shared: dict = {}
    runs = [load_run(r, shared=shared) for r in run_dirs]  # each checkpoint and dataset read once
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(note)}</p>" if note else "",
             "<h2>Test metrics (IS-LL: importance-sampled log-likelihood, k samples)</h2>",
             _table(runs), *_tables(tables), "<h2>Training curves</h2>",
             _img(plots.save_curves([r.dir for r in runs], out.with_suffix(".curves.png")))]
    for run in runs:
        figs = [fn(run, run.dir / name) for name, fn in dataset(run.cfg).figures.items()]
        parts += [f"<h2>{html.escape(run.dir.name)}</h2>", *(_img(f) for f in figs)]
        own = run.dir / "molecule_metrics.md"
        if own.exists():
            parts += _tables([own])
    body = "\n".join(parts)
    write_atomic(out, f"<!doctype html><html><head><meta charset='utf-8'><title>"
                   f"{html.escape(title)}</title><style>{_CSS}</style></head>"
                   f"<body>{body}</body></html>\n")
    return out
