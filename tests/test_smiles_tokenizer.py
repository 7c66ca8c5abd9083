"""Tokenizer: token boundaries, exact round trips, vocabulary files, SELFIES option."""


import pytest

from packages import needs
from spcauchy.experiments.data.tokenizer import SPECIAL_TOKENS, UNK, Tokenizer, split_smiles

HAND_WRITTEN = [
    "CC(Cl)Br",
    "c1cc[nH]c1",
    "C[C@@H](O)C(=O)[O-]",
    "C%12CCCCC%12",
    "C/C=C\\C",
    "[13CH3]C#N",
    "[Na+].[Cl-]",
    "O=S(=O)(N)c1ccc(cc1)-c1ccco1",
    "C1CC2CCC1C2",
    "B1OC(C)(C)C(C)(C)O1",
]


@pytest.mark.parametrize(
    ("smiles", "tokens"),
    [
        ("CC(Cl)Br", ["C", "C", "(", "Cl", ")", "Br"]),
        ("c1cc[nH]c1", ["c", "1", "c", "c", "[nH]", "c", "1"]),
        ("C[C@@H](O)C(=O)[O-]", ["C", "[C@@H]", "(", "O", ")", "C", "(", "=", "O", ")", "[O-]"]),
        ("C%12CC%12", ["C", "%12", "C", "C", "%12"]),
        ("C/C=C\\C", ["C", "/", "C", "=", "C", "\\", "C"]),
        ("[13CH3]C#N", ["[13CH3]", "C", "#", "N"]),
        ("[Na+].[Cl-]", ["[Na+]", ".", "[Cl-]"]),
        ("C12CC1C2", ["C", "1", "2", "C", "C", "1", "C", "2"]),
    ],
)
def test_split_smiles_token_boundaries(smiles, tokens):
    assert split_smiles(smiles) == tokens


@pytest.mark.parametrize("bad", ["C!C", "C[CH3", "", "CC Cl"])
def test_untokenizable_string_raises(bad):
    with pytest.raises(ValueError, match="tokenize"):
        split_smiles(bad)


def test_round_trip_hand_written():
    tok = Tokenizer.from_smiles(HAND_WRITTEN)
    assert tok.itos[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    for s in HAND_WRITTEN:
        ids = tok.encode(s)
        assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
        assert tok.unk_id not in ids
        assert tok.decode(ids) == s


def test_decode_stops_at_eos_and_skips_padding():
    tok = Tokenizer.from_smiles(["CCO"])
    ids = tok.encode("CCO") + [tok.pad_id] * 3
    assert tok.decode(ids) == "CCO"
    assert tok.decode([tok.bos_id, *tok.encode("CO", add_special=False), tok.eos_id,
                       *tok.encode("N", add_special=False)]) == "CO"


def test_decode_batch_of_padded_rows():
    import torch

    tok = Tokenizer.from_smiles(["CCO", "c1ccccc1"])
    rows = [[*tok.encode("CCO", add_special=False), tok.eos_id, tok.pad_id, tok.pad_id],
            tok.encode("c1ccccc1", add_special=False)[:6]]  # cut at max_len: no <eos>
    assert tok.decode_batch(torch.tensor(rows)) == ["CCO", "c1cccc"]
    assert tok.decode_batch(rows) == ["CCO", "c1cccc"]


def test_unknown_token_decodes_to_invalid_string():
    tok = Tokenizer.from_smiles(["CCO"])
    ids = tok.encode("CCN")
    assert ids[3] == tok.unk_id
    assert tok.decode(ids) == "CC" + UNK
    assert tok.decode([tok.bos_id, len(tok) + 5]) == UNK  # out-of-range id


def test_invalid_arguments():
    with pytest.raises(ValueError, match="representation"):
        Tokenizer(["C"], representation="inchi")
    with pytest.raises(ValueError, match="tokens"):
        Tokenizer(["C", "C"])



@needs("molsets")
def test_round_trip_on_moses():
    from spcauchy.experiments.datasets.smiles import load_smiles, select_smiles

    smiles, stats = select_smiles(load_smiles("moses", "test"), n=2000, seed=1)
    assert stats.kept == 2000
    tok = Tokenizer.from_smiles(smiles)
    assert all(tok.decode(tok.encode(s)) == s for s in smiles)


def test_selfies_round_trip_is_the_same_molecule():
    pytest.importorskip("selfies")
    from spcauchy.experiments.metrics.molecules import canonical_smiles

    mols = ["CC(Cl)Br", "c1cc[nH]c1", "C[C@@H](O)C(=O)O", "O=S(=O)(N)c1ccc(cc1)-c1ccco1"]
    tok = Tokenizer.from_smiles(mols, representation="selfies")
    assert all(t.startswith("[") for t in tok.itos[len(SPECIAL_TOKENS):])
    for s in mols:
        assert canonical_smiles(tok.decode(tok.encode(s))) == canonical_smiles(s)
