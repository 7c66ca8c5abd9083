"""The MOSES metric table for a generated set, with a same-size training-subsample reference row.

Reference sets (test, test scaffolds) are summarised once (fingerprints, fragment and scaffold
counts, ChemNet statistics) and reused for every row.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from . import molecules as M
from .fcd import ActivationStats, FCDScorer
from .moses_filters import filters

REFERENCE_ROW = "train subsample"


@dataclass
class ReferenceSet:
    """Precomputed summaries of a reference set of molecules (e.g. MOSES test)."""

    name: str
    fps: Tensor
    fragments: Counter[str]
    scaffolds: Counter[str]
    fcd: ActivationStats | None


def reference_set(name: str, smiles: Sequence[str], fcd: FCDScorer | None = None,
                  device: torch.device | str = "cpu") -> ReferenceSet:
    """Summarise the valid molecules of ``smiles`` (invalid strings are dropped)."""
    valid = M.valid_canonical(smiles)
    if len(valid) < 2:
        raise ValueError(f"smiles of reference {name!r} must hold at least two valid molecules")
    return ReferenceSet(name, M.morgan_fingerprints(valid, device), M.fragment_counts(valid),
                        M.scaffold_counts(valid), fcd.stats(valid) if fcd is not None else None)


def molecule_metrics(
    generated: Sequence[str],
    train_canonical: set[str],
    references: Sequence[ReferenceSet],
    *,
    ks: Sequence[int] = (1000, 10000),
    fcd: FCDScorer | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """One row: validity, unique@k, novelty, filters, IntDiv1/2 and FCD/SNN/Frag/Scaf per reference.

    Metrics other than validity use the valid molecules only; with no valid molecule they are NaN.
    """
    row = {"valid": M.validity(generated)}
    valid = M.valid_canonical(generated)
    for k in ks:
        row[f"unique@{k // 1000}k" if k % 1000 == 0 else f"unique@{k}"] = M.unique_at_k(valid, k)
    if not valid:
        return row | {name: math.nan for name in _metric_names(references, fcd)}
    fps = M.morgan_fingerprints(valid, device)
    row["novelty"] = M.novelty(valid, train_canonical, train_is_canonical=True)
    row["filters"] = filters(valid)
    row["IntDiv"] = M.internal_diversity_from_fps(fps, 1.0)
    row["IntDiv2"] = M.internal_diversity_from_fps(fps, 2.0)
    gen_fcd = fcd.stats(valid) if fcd is not None and len(valid) >= 2 else None
    for ref in references:
        if fcd is not None and ref.fcd is not None:
            row[f"FCD/{ref.name}"] = fcd.distance(gen_fcd, ref.fcd) if gen_fcd else math.nan
        row[f"SNN/{ref.name}"] = M.snn_from_fps(fps, ref.fps.to(fps.device))
        row[f"Frag/{ref.name}"] = M.cosine_similarity_counts(ref.fragments,
                                                            M.fragment_counts(valid))
        row[f"Scaf/{ref.name}"] = M.cosine_similarity_counts(ref.scaffolds,
                                                            M.scaffold_counts(valid))
    return row


def _metric_names(references: Sequence[ReferenceSet], fcd: FCDScorer | None) -> list[str]:
    names = ["novelty", "filters", "IntDiv", "IntDiv2"]
    for ref in references:
        names += ([f"FCD/{ref.name}"] if fcd is not None and ref.fcd is not None else [])
        names += [f"{m}/{ref.name}" for m in ("SNN", "Frag", "Scaf")]
    return names


def metrics_table(
    rows: dict[str, Sequence[str]],
    train: Sequence[str],
    references: Sequence[ReferenceSet],
    *,
    seed: int = 0,
    ks: Sequence[int] = (1000, 10000),
    fcd: FCDScorer | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Metric rows for each named generated set, plus ``"train subsample"``.

    The reference row draws, with ``seed``, as many training molecules as the *largest* generated
    set has valid molecules, so its FCD is computed at the model rows' sample size; when no set
    has two valid molecules (no model FCD to compare with), as many as the largest set has
    molecules, the FCD a perfect model would reach at that size.
    """
    if not rows:
        raise ValueError("rows must name at least one generated set")
    if REFERENCE_ROW in rows:
        raise ValueError(f"rows must not use the reserved name {REFERENCE_ROW!r}")
    train_canonical = set(M.valid_canonical(train))
    n_ref = max(len(M.valid_canonical(g)) for g in rows.values())
    if n_ref < 2:
        n_ref = max(2, *(len(g) for g in rows.values()))
    if n_ref > len(train):
        raise ValueError(f"train must hold at least {n_ref} molecules for the reference row")
    sample = random.Random(seed).sample(list(train), n_ref)
    table = {}
    for name, generated in {**rows, REFERENCE_ROW: sample}.items():
        table[name] = molecule_metrics(generated, train_canonical, references, ks=ks, fcd=fcd,
                                       device=device)
    return table


def _cell(value: float | str, digits: int) -> str:
    # counts stay counts, labels stay labels
    return f"{value:.{digits}f}" if type(value) is float else str(value)


def format_table(table: dict[str, dict[str, float]], digits: int = 3) -> str:
    """Markdown table: one line per metric, one column per row of ``table``; integers (counts)
    are printed as such, other values with ``digits`` decimals."""
    names = list(table)
    metrics = list(dict.fromkeys(m for row in table.values() for m in row))
    lines = ["| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for m in metrics:
        cells = [_cell(table[n].get(m, math.nan), digits) for n in names]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
