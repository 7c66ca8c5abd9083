"""Molecule generation metrics (MOSES definitions, written on RDKit)."""

from .molecules import (
    canonical_smiles,
    fragment_similarity,
    internal_diversity,
    novelty,
    reconstruction_accuracy,
    scaffold_similarity,
    snn,
    unique_at_k,
    valid_canonical,
    validity,
)
from .moses_filters import filters, passes_filters
from .table import format_table, metrics_table, molecule_metrics, reference_set

__all__ = [
    "canonical_smiles",
    "filters",
    "format_table",
    "fragment_similarity",
    "internal_diversity",
    "metrics_table",
    "molecule_metrics",
    "novelty",
    "passes_filters",
    "reconstruction_accuracy",
    "reference_set",
    "scaffold_similarity",
    "snn",
    "unique_at_k",
    "valid_canonical",
    "validity",
]
