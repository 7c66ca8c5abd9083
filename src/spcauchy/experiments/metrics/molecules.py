"""MOSES molecule metrics on RDKit (Polykovskiy et al. 2020), same definitions as the benchmark.

Conventions: ``validity`` is computed on the raw generated strings; every other metric takes the
*valid* molecules (canonical SMILES from ``valid_canonical``, duplicates kept, generation order).
Fingerprints are Morgan radius 2, 1024 bits; Tanimoto similarities are computed in torch in
blocks (any device), with 0/0 (two empty fingerprints) defined as 1 as in MOSES.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import torch
from rdkit import Chem, RDLogger
from rdkit.Chem import rdFingerprintGenerator, rdmolops
from rdkit.Chem.Scaffolds import MurckoScaffold
from torch import Tensor

MORGAN_RADIUS, MORGAN_BITS = 2, 1024
SCAFFOLD_MIN_RINGS = 2  # MOSES counts only scaffolds with at least two rings


@contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's per-molecule parse errors (invalid strings are counted, not printed)."""
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def get_mol(smiles: str) -> Chem.Mol | None:
    """RDKit molecule of a SMILES string, or None if it is empty or does not parse/sanitize."""
    if not smiles:
        return None
    with quiet_rdkit():
        return Chem.MolFromSmiles(smiles)


def canonical_smiles(smiles: str) -> str | None:
    """RDKit canonical SMILES, or None for an invalid string."""
    mol = get_mol(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def _nonempty(smiles: Sequence, name: str) -> None:
    if len(smiles) == 0:
        raise ValueError(f"{name} must contain at least one molecule")


def validity(generated: Sequence[str]) -> float:
    """Fraction of strings that RDKit parses."""
    _nonempty(generated, "generated")
    return sum(get_mol(s) is not None for s in generated) / len(generated)


def valid_canonical(generated: Iterable[str]) -> list[str]:
    """Canonical SMILES of the valid strings, in order, duplicates kept."""
    return [c for c in map(canonical_smiles, generated) if c is not None]


def unique_at_k(valid: Sequence[str], k: int) -> float:
    """Fraction of distinct canonical SMILES among the first ``k`` valid molecules.

    NaN when fewer than ``k`` valid molecules exist: a unique@10k from 900 molecules would not be
    comparable with published numbers.
    """
    if len(valid) < k:
        return math.nan
    return len(set(valid[:k])) / k


def novelty(valid: Sequence[str], train: Iterable[str], *, train_is_canonical: bool = False
            ) -> float:
    """Fraction of distinct generated molecules that are not in the train set.

    The train SMILES are canonicalized first unless ``train_is_canonical`` (e.g. a precomputed set).
    """
    _nonempty(valid, "valid")
    gen = set(valid)
    known = set(train) if train_is_canonical else {canonical_smiles(s) for s in train}
    return len(gen - known) / len(gen)


def reconstruction_accuracy(inputs: Sequence[str], outputs: Sequence[str]) -> float:
    """Fraction of outputs that are valid and the same molecule as their input (canonical match)."""
    if len(inputs) != len(outputs):
        raise ValueError(f"outputs must have the length of inputs ({len(inputs)}), "
                         f"got {len(outputs)}")
    _nonempty(inputs, "inputs")
    hits = sum(o is not None and o == canonical_smiles(i)
               for i, o in zip(inputs, map(canonical_smiles, outputs), strict=True))
    return hits / len(inputs)


def morgan_fingerprints(smiles: Sequence[str], device: torch.device | str = "cpu") -> Tensor:
    """(N, 1024) float32 0/1 Morgan fingerprints of valid SMILES."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=MORGAN_BITS)
    rows = []
    for s in smiles:
        mol = get_mol(s)
        if mol is None:
            raise ValueError(f"smiles contains an invalid molecule: {s!r}")
        rows.append(torch.from_numpy(gen.GetFingerprintAsNumPy(mol).astype("float32")))
    if not rows:
        return torch.zeros(0, MORGAN_BITS, device=device)
    return torch.stack(rows).to(device)


def tanimoto_aggregate(
    gen_fps: Tensor, ref_fps: Tensor, agg: str = "max", p: float = 1.0, block: int = 4096
) -> Tensor:
    """Per generated molecule i: max_j T_ij (``agg="max"``) or (mean_j T_ij^p)^(1/p) (``"mean"``).

    gen_fps (N, B), ref_fps (M, B) 0/1 -> (N,) in float64 accumulation.
    """
    if agg not in ("max", "mean"):
        raise ValueError(f"agg must be 'max' or 'mean', got {agg!r}")
    out = torch.zeros(gen_fps.shape[0], dtype=torch.float64, device=gen_fps.device)
    gen_bits = gen_fps.sum(1, keepdim=True)
    for j in range(0, ref_fps.shape[0], block):
        ref = ref_fps[j:j + block]
        inter = gen_fps @ ref.T  # exact: integers ≤ 1024 in float32
        union = gen_bits + ref.sum(1) - inter
        t = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter)).double()
        out = torch.maximum(out, t.max(1).values) if agg == "max" else out + (t**p).sum(1)
    return out if agg == "max" else (out / ref_fps.shape[0]) ** (1.0 / p)


def snn_from_fps(gen_fps: Tensor, ref_fps: Tensor) -> float:
    """Mean over generated molecules of the Tanimoto similarity to the nearest reference."""
    return float(tanimoto_aggregate(gen_fps, ref_fps, "max").mean())


def internal_diversity_from_fps(fps: Tensor, p: float = 1.0) -> float:
    """IntDiv_p = 1 - mean_i (mean_j T_ij^p)^(1/p) over all pairs of the set (i = j included)."""
    return 1.0 - float(tanimoto_aggregate(fps, fps, "mean", p).mean())


def snn(valid: Sequence[str], reference: Sequence[str]) -> float:
    """Similarity to a nearest neighbour (SNN) of the generated set w.r.t. ``reference``."""
    _nonempty(valid, "valid")
    _nonempty(reference, "reference")
    return snn_from_fps(morgan_fingerprints(valid), morgan_fingerprints(reference))


def internal_diversity(valid: Sequence[str], p: float = 1.0) -> float:
    """IntDiv_p of a set of valid molecules (MOSES reports p = 1 and p = 2)."""
    _nonempty(valid, "valid")
    return internal_diversity_from_fps(morgan_fingerprints(valid), p)


def fragments(smiles: str) -> list[str]:
    """BRICS fragments (with dummy attachment atoms) of one molecule, as SMILES."""
    return Chem.MolToSmiles(rdmolops.FragmentOnBRICSBonds(get_mol(smiles))).split(".")


def scaffold(smiles: str) -> str | None:
    """Bemis–Murcko scaffold SMILES, or None if it has fewer than two rings."""
    try:
        scaf = MurckoScaffold.GetScaffoldForMol(get_mol(smiles))
    except (ValueError, RuntimeError):
        return None
    out = Chem.MolToSmiles(scaf)
    if not out or scaf.GetRingInfo().NumRings() < SCAFFOLD_MIN_RINGS:
        return None
    return out


def fragment_counts(valid: Iterable[str]) -> Counter[str]:
    return Counter(f for s in valid for f in fragments(s))


def scaffold_counts(valid: Iterable[str]) -> Counter[str]:
    return Counter(c for c in map(scaffold, valid) if c is not None)


def cosine_similarity_counts(ref: Counter[str], gen: Counter[str]) -> float:
    """Cosine similarity of two count vectors over the union of keys; NaN if either is empty."""
    if not ref or not gen:
        return math.nan
    dot = sum(v * gen.get(k, 0) for k, v in ref.items())
    norm = math.sqrt(sum(v * v for v in ref.values())) * math.sqrt(sum(v * v for v in gen.values()))
    return dot / norm


def fragment_similarity(valid: Sequence[str], reference: Sequence[str]) -> float:
    """Frag: cosine similarity of BRICS fragment counts."""
    return cosine_similarity_counts(fragment_counts(reference), fragment_counts(valid))


def scaffold_similarity(valid: Sequence[str], reference: Sequence[str]) -> float:
    """Scaf: cosine similarity of Bemis–Murcko scaffold counts."""
    return cosine_similarity_counts(scaffold_counts(reference), scaffold_counts(valid))
