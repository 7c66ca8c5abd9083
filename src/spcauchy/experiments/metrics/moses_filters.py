"""MOSES medicinal-chemistry filters: MCF and PAINS SMARTS (shipped in the ``molsets`` wheel),
allowed atoms, no charges, no rings of 8 or more atoms — the rule set used to build MOSES."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import cache

from rdkit import Chem

from ..data.packages import package_file
from .molecules import get_mol

ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
MAX_RING_SIZE = 7


@cache
def filter_patterns() -> tuple[Chem.Mol, ...]:
    """The 22 MCF and the PAINS SMARTS patterns, parsed once."""
    smarts: list[str] = []
    with open(package_file("molsets", "moses/metrics/mcf.csv"), encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows)
        smarts += [r[header.index("smarts")] for r in rows if r]
    with open(package_file("molsets", "moses/metrics/wehi_pains.csv"), encoding="utf-8") as f:
        # no header; the quoted SMARTS is padded with spaces before the comma
        smarts += [r[0].strip() for r in csv.reader(f) if r]
    patterns = tuple(Chem.MolFromSmarts(s) for s in smarts)
    if any(p is None for p in patterns):
        raise ValueError("a MOSES filter SMARTS pattern does not parse")
    return patterns


def passes_filters(smiles: str) -> bool:
    """True if the molecule is valid and passes every MOSES filter."""
    mol = get_mol(smiles)
    if mol is None:
        return False
    if any(len(ring) > MAX_RING_SIZE for ring in mol.GetRingInfo().AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 or a.GetSymbol() not in ALLOWED_ATOMS
           for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)  # some MCF patterns match explicit hydrogens
    return not any(with_h.HasSubstructMatch(p) for p in filter_patterns())


def filters(valid: Sequence[str]) -> float:
    """Fraction of valid molecules that pass the MOSES filters."""
    if len(valid) == 0:
        raise ValueError("valid must contain at least one molecule")
    return sum(map(passes_filters, valid)) / len(valid)
