"""Molecule metrics on tiny hand-checked examples (RDKit runs in the default test run)."""

import math
from collections import Counter

import pytest
import torch
from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator

from packages import needs
from spcauchy.experiments.metrics import molecules as M
from spcauchy.experiments.metrics.table import (
    REFERENCE_ROW,
    format_table,
    metrics_table,
    molecule_metrics,
    reference_set,
)

needs_molsets = needs("molsets")

ASPIRIN, PARACETAMOL, IBUPROFEN = "CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", \
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1"


def _rdkit_tanimoto(a: str, b: str) -> float:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return DataStructs.TanimotoSimilarity(gen.GetFingerprint(M.get_mol(a)),
                                          gen.GetFingerprint(M.get_mol(b)))


def test_validity_of_a_known_mix():
    mix = ["CCO", "c1ccccc1", "C1CC", "xyz", "", "CC(=O)O", "c1cccc1", "C(C"]
    assert M.validity(mix) == 3 / 8
    assert M.valid_canonical(mix) == ["CCO", "c1ccccc1", "CC(=O)O"]
    with pytest.raises(ValueError, match="generated"):
        M.validity([])


def test_canonical_forms_agree():
    assert M.canonical_smiles("OCC") == M.canonical_smiles("C(O)C") == "CCO"
    assert M.canonical_smiles("C1=CC=CC=C1") == "c1ccccc1"
    assert M.canonical_smiles("C1CC") is None


def test_unique_at_k():
    valid = M.valid_canonical(["CCO", "OCC", "C", "CCN"])
    assert M.unique_at_k(valid, 3) == 2 / 3  # first three: CCO, CCO, C
    assert M.unique_at_k(valid, 4) == 3 / 4
    assert math.isnan(M.unique_at_k(valid, 5))  # too few molecules for unique@5
    many = M.valid_canonical(["C" * (i % 250 + 1) for i in range(1000)])
    assert M.unique_at_k(many, 1000) == 0.25


def test_novelty_against_a_known_train_set():
    valid = M.valid_canonical(["CCO", "C", "CCN", "CCN"])
    assert M.novelty(valid, ["OCC", "CCCC"]) == 2 / 3  # {CCO, C, CCN} minus {CCO}
    assert M.novelty(valid, {"CCO", "C", "CCN"}, train_is_canonical=True) == 0.0
    assert M.novelty(valid, []) == 1.0


def test_reconstruction_accuracy():
    inputs = ["CCO", "c1ccccc1", "CC", "CCN"]
    outputs = ["OCC", "C1=CC=CC=C1", "C(C", "CCO"]  # same, same (Kekulé), invalid, wrong
    assert M.reconstruction_accuracy(inputs, outputs) == 0.5
    with pytest.raises(ValueError, match="outputs"):
        M.reconstruction_accuracy(inputs, outputs[:2])


def test_snn_identical_sets_is_one_and_matches_rdkit():
    mols = [ASPIRIN, PARACETAMOL, IBUPROFEN]
    assert M.snn(mols, mols) == pytest.approx(1.0)
    t_ap, t_ai = _rdkit_tanimoto(ASPIRIN, PARACETAMOL), _rdkit_tanimoto(ASPIRIN, IBUPROFEN)
    t_ip = _rdkit_tanimoto(IBUPROFEN, PARACETAMOL)
    assert 0 < t_ap < 1 and t_ap != t_ai
    assert M.snn([ASPIRIN], [PARACETAMOL, IBUPROFEN]) == pytest.approx(max(t_ap, t_ai))
    assert M.snn([PARACETAMOL, IBUPROFEN], [ASPIRIN, PARACETAMOL]) == pytest.approx(
        (1.0 + max(t_ai, t_ip)) / 2)


def test_internal_diversity_closed_forms():
    t = _rdkit_tanimoto(ASPIRIN, IBUPROFEN)
    assert M.internal_diversity([ASPIRIN] * 3) == pytest.approx(0.0, abs=1e-12)
    # pairs (i, j) include i = j: per molecule mean_j T = (1 + t) / 2
    assert M.internal_diversity([ASPIRIN, IBUPROFEN]) == pytest.approx((1 - t) / 2)
    assert M.internal_diversity([ASPIRIN, IBUPROFEN], p=2) == pytest.approx(
        1 - math.sqrt((1 + t * t) / 2))


def test_tanimoto_of_empty_fingerprints_is_one_and_blocks_agree():
    zero = torch.zeros(2, 8)
    assert torch.equal(M.tanimoto_aggregate(zero, zero), torch.ones(2, dtype=torch.float64))
    fps = M.morgan_fingerprints([ASPIRIN, PARACETAMOL, IBUPROFEN, "CCO", "c1ccncc1"])
    for agg in ("max", "mean"):
        torch.testing.assert_close(M.tanimoto_aggregate(fps, fps, agg, block=2),
                                   M.tanimoto_aggregate(fps, fps, agg))
    with pytest.raises(ValueError, match="agg"):
        M.tanimoto_aggregate(fps, fps, "min")
    with pytest.raises(ValueError, match="invalid"):
        M.morgan_fingerprints(["C1CC"])


def test_fragments_and_scaffolds():
    assert sorted(M.fragments(PARACETAMOL)) == ["[1*]C(C)=O", "[16*]c1ccc(O)cc1", "[5*]N[5*]"]
    assert M.scaffold("c1ccc(Cc2ccccc2)cc1") == "c1ccc(Cc2ccccc2)cc1"
    assert M.scaffold("Cc1ccccc1") is None  # one ring: not counted by MOSES
    assert M.scaffold("CCO") is None
    assert M.scaffold_counts(["c1ccc(Cc2ccccc2)cc1", "Cc1ccc(Cc2ccccc2)cc1", "CCO"]) == Counter(
        {"c1ccc(Cc2ccccc2)cc1": 2})


def test_count_cosine_similarity():
    assert M.cosine_similarity_counts(Counter(a=1, b=1), Counter(a=1)) == pytest.approx(
        1 / math.sqrt(2))
    assert M.cosine_similarity_counts(Counter(a=2), Counter(b=5)) == 0.0
    assert math.isnan(M.cosine_similarity_counts(Counter(), Counter(a=1)))
    mols = [ASPIRIN, PARACETAMOL, IBUPROFEN]
    assert M.fragment_similarity(mols, mols) == pytest.approx(1.0)
    assert M.scaffold_similarity(["c1ccc(Cc2ccccc2)cc1"], ["Cc1ccc(Cc2ccccc2)cc1"]) == 1.0
    assert M.fragment_similarity(["c1ccccc1"], ["CCCC"]) == 0.0


@needs_molsets
def test_moses_filters():
    from spcauchy.experiments.metrics.moses_filters import filter_patterns, filters, passes_filters

    assert len(filter_patterns()) == 22 + 480  # MCF + PAINS
    assert passes_filters("CCO") and passes_filters(PARACETAMOL)
    assert not passes_filters("CC[N+](C)(C)C")  # charged
    assert not passes_filters("C1CCCCCCC1")  # 8-membered ring
    assert not passes_filters("CC=O")  # aldehyde (MCF7)
    assert not passes_filters("CCI")  # iodine is not an allowed atom
    assert not passes_filters("C1CC")  # invalid
    assert filters(["CCO", "CC=O", "CCN", "CCI"]) == 0.5


def test_fcd_is_zero_for_identical_sets_and_positive_otherwise():
    from spcauchy.experiments.metrics.fcd import FCDScorer

    scorer = FCDScorer()
    a = [ASPIRIN, PARACETAMOL, IBUPROFEN, "CCO", "c1ccncc1", "CCN(CC)CC"]
    b = ["CCCCCC", "CCCCO", "CC(C)O", "OCCO", "CCCN", "CC(C)(C)C"]
    assert abs(scorer(a, a)) < 1e-3
    assert scorer(a, b) > 1.0
    with pytest.raises(ValueError, match="two"):
        scorer.stats(["CCO"])


@needs_molsets
def test_metrics_table_with_reference_row():
    train = [ASPIRIN, PARACETAMOL, IBUPROFEN, "CCO", "c1ccncc1", "CCN(CC)CC", "OCCO", "CCCN"]
    test = ["c1ccc(Cc2ccccc2)cc1", "CC(=O)Oc1ccccc1", "CCCCO", "Cc1ccc(Cc2ccccc2)cc1"]
    refs = [reference_set("Test", test)]
    generated = ["CCO", "OCC", "c1ccccc1", "C1CC", "CC(=O)O"]
    table = metrics_table({"model": generated}, train, refs, ks=(3,), seed=1)
    assert list(table) == ["model", REFERENCE_ROW]
    model, ref = table["model"], table[REFERENCE_ROW]
    assert model["valid"] == 4 / 5 and model["unique@3"] == 2 / 3
    assert model["novelty"] == 2 / 3  # c1ccccc1 and CC(=O)O are new, CCO is not
    assert ref["valid"] == 1.0 and ref["novelty"] == 0.0  # 4 training molecules
    assert set(model) == set(ref) == {"valid", "unique@3", "novelty", "filters", "IntDiv",
                                      "IntDiv2", "SNN/Test", "Frag/Test", "Scaf/Test"}
    text = format_table(table)
    assert text.splitlines()[0] == f"| metric | model | {REFERENCE_ROW} |"
    assert "| novelty | 0.667 | 0.000 |" in text
    assert format_table({"a": {"n": 1000, "x": 2.0}}).splitlines()[2:] == ["| n | 1000 |",
                                                                          "| x | 2.000 |"]
    assert math.isnan(molecule_metrics(["xx"], set(), refs)["SNN/Test"])
    with pytest.raises(ValueError, match="rows"):
        metrics_table({REFERENCE_ROW: generated}, train, refs)
    # no valid molecule anywhere: the reference row has the generated sets' size, not 2
    none = metrics_table({"model": ["xx", "C(", "((", "c1cc", "Q"]}, train, refs, ks=(3,))
    assert none["model"]["valid"] == 0.0 and none[REFERENCE_ROW]["unique@3"] == 1.0
