"""Held-out exact reconstruction against prior-sample validity, one point per SMILES run.

Reads the grid directories given (each with the ``molecule_metrics.json`` that
``spcauchy evaluate --table-only`` writes beside its cells) and draws one PNG:

    python scripts/smiles_tradeoff.py results/smiles/paper results/smiles/paper-gru \
        --out results/smiles/tradeoff.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from spcauchy.experiments.plots import save_figure
from spcauchy.experiments.rundir import read_config, read_json, read_test_metrics


def points(root: Path) -> list[tuple[str, float, float]]:
    """(label, exact reconstruction, validity of prior samples) of every evaluated cell."""
    table = read_json(root / "molecule_metrics.json")
    out = []
    for cell in sorted(p.parent for p in root.glob("*/test_metrics.json")):
        if cell.name in table:
            cfg = read_config(cell)
            out.append((f"{cfg.model}: {cell.name}", read_test_metrics(cell)["recon_accuracy"],
                        table[cell.name]["valid"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+", type=Path, help="grid directories")
    ap.add_argument("--out", type=Path, required=True, help="PNG path")
    args = ap.parse_args()
    missing = [str(r) for r in args.roots if not (r / "molecule_metrics.json").is_file()]
    if missing:
        print(f"no molecule_metrics.json in {', '.join(missing)}: run `spcauchy evaluate "
              "<cells> --table-only --table <root>/molecule_metrics.md`", file=sys.stderr)
        sys.exit(2)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, recon, valid in (p for root in args.roots for p in points(root)):
        ax.scatter(recon, valid, s=40)
        ax.annotate(label, (recon, valid), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("held-out exact reconstruction")
    ax.set_ylabel("valid prior samples")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    print(save_figure(fig, args.out))


if __name__ == "__main__":
    main()
