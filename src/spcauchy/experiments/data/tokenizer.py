"""SMILES / SELFIES tokenizer with a JSON-saved vocabulary.

The tokenizer always speaks SMILES at its boundary: ``encode(smiles) -> ids`` and
``decode(ids) -> smiles``. Internally a molecule is written in a *representation* (``"smiles"``:
the string itself, exact round trip; ``"chars"``: the string itself, one token per character, as
in character-level SMILES models; ``"selfies"``: the SELFIES string, round trip up to the
molecule) and split into tokens by a regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0..3 in every vocabulary

# One token: a bracket atom ([nH], [C@@H], [O-], [13CH3]), a two-letter organic-subset atom
# (Cl, Br), a one-letter atom (aromatic lower case included), a bond/branch/charge/stereo symbol,
# a two-digit ring bond (%12) or a one-digit ring bond.
_SMILES_TOKEN = re.compile(
    r"(\[[^\[\]]+\]|Br|Cl|B|C|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$"
    r"|%[0-9]{2}|[0-9])"
)
_SELFIES_TOKEN = re.compile(r"(\[[^\[\]]+\]|\.)")
# One token per character ("Cl" is "C", "l"; "[nH]" is four tokens). Whitespace is no SMILES
# character: a string holding any is not tokenizable (and so skipped by the data selection).
_CHAR_TOKEN = re.compile(r"\S")


def _split(pattern: re.Pattern[str], text: str, what: str) -> list[str]:
    """Split ``text`` into tokens; raise ValueError if any character is not covered."""
    tokens = pattern.findall(text)
    if "".join(tokens) != text or not tokens:
        raise ValueError(f"cannot tokenize {what} {text!r}")
    return tokens


def split_smiles(smiles: str) -> list[str]:
    """Regex SMILES tokens; ``"".join(split_smiles(s)) == s`` always holds."""
    return _split(_SMILES_TOKEN, smiles, "SMILES")


def _selfies_module():
    try:
        import selfies
    except ImportError as err:
        raise ImportError("the SELFIES representation needs `pip install selfies`") from err
    return selfies


def _smiles_to_selfies(smiles: str) -> str:
    sf = _selfies_module()
    try:
        return sf.encoder(smiles, strict=True)
    except sf.EncoderError as err:
        raise ValueError(f"cannot encode SMILES {smiles!r} as SELFIES") from err


def _selfies_to_smiles(text: str) -> str:
    sf = _selfies_module()
    try:
        return sf.decoder(text)
    except sf.DecoderError:
        return ""  # an undecodable string is an invalid molecule, which the metrics count


@dataclass(frozen=True)
class Representation:
    """How a SMILES string is written (``from_smiles``, inverse ``to_smiles``) and split."""

    from_smiles: Callable[[str], str]
    to_smiles: Callable[[str], str]
    pattern: re.Pattern[str]

    def tokenize(self, smiles: str) -> list[str]:
        """Tokens of ``smiles`` in this representation; ValueError if it cannot be written."""
        return _split(self.pattern, self.from_smiles(smiles), "string")


def _identity(s: str) -> str:
    return s


REPRESENTATIONS: dict[str, Representation] = {
    "smiles": Representation(_identity, _identity, _SMILES_TOKEN),
    "chars": Representation(_identity, _identity, _CHAR_TOKEN),
    "selfies": Representation(_smiles_to_selfies, _selfies_to_smiles, _SELFIES_TOKEN),
}


def get_representation(name: str) -> Representation:
    """The registered representation ``name``; ValueError naming the argument otherwise."""
    if name not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {sorted(REPRESENTATIONS)}, got {name!r}")
    return REPRESENTATIONS[name]


class Tokenizer:
    """Vocabulary + representation. Ids 0..3 are ``<pad> <bos> <eos> <unk>``.

    Args:
        tokens: the ordinary tokens (special tokens are prepended automatically).
        representation: a key of ``REPRESENTATIONS``.
    """

    def __init__(self, tokens: Sequence[str], representation: str = "smiles") -> None:
        self._rep = get_representation(representation)
        ordinary = [t for t in tokens if t not in SPECIAL_TOKENS]
        if len(set(ordinary)) != len(ordinary):
            raise ValueError("tokens must not contain duplicates")
        self.representation = representation
        self.itos: list[str] = [*SPECIAL_TOKENS, *ordinary]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = range(4)

    @classmethod
    def from_smiles(cls, smiles: Iterable[str], representation: str = "smiles") -> Tokenizer:
        """Build the vocabulary (sorted, deterministic) from a corpus of valid SMILES."""
        rep = get_representation(representation)
        seen: set[str] = set()
        for s in smiles:
            seen.update(rep.tokenize(s))
        return cls(sorted(seen), representation)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Tokenizer) and self.itos == other.itos
                and self.representation == other.representation)

    __hash__ = None  # mutable-content equality

    def tokenize(self, smiles: str) -> list[str]:
        """Representation tokens of a SMILES string (no special tokens)."""
        return self._rep.tokenize(smiles)

    def encode(self, smiles: str, *, add_special: bool = True) -> list[int]:
        """SMILES -> ids ``[<bos>, t1 .. tn, <eos>]``; unknown tokens map to ``<unk>``."""
        ids = [self.stoi.get(t, self.unk_id) for t in self.tokenize(smiles)]
        return [self.bos_id, *ids, self.eos_id] if add_special else ids

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> SMILES. Stops at the first ``<eos>``, skips ``<pad>``/``<bos>``.

        An ``<unk>`` id or an out-of-range id is written as ``<unk>``, which no chemistry toolkit
        parses, so the molecule is (correctly) counted as invalid.
        """
        parts: list[str] = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            parts.append(self.itos[i] if 0 <= i < len(self.itos) and i != self.unk_id else UNK)
        return self._rep.to_smiles("".join(parts))

    def decode_batch(self, ids: Iterable[Iterable[int]]) -> list[str]:
        """Rows of ids (e.g. a (B, L) tensor from ``SmilesVAE.generate``) -> B SMILES strings."""
        rows = ids.tolist() if hasattr(ids, "tolist") else ids
        return [self.decode(r) for r in rows]
