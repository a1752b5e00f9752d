"""Normalisation for matching, with offsets that always lead back to the original text.

Rules match on ``Doc.norm``: NFC-composed text with Vietnamese tone marks placed the
modern way ("hoà" -> "hòa", "thuỷ" -> "thủy"). Tone placement only moves a mark between
two letters of the same syllable, so it never changes the length: the only step that can
change length is NFC itself (decomposed input), and ``Doc`` keeps an index map for that
case only. ``Doc.folded`` additionally strips diacritics and lower-cases, one character
for one character, for diacritic-insensitive matching.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

# Old-style ("hoà", "thuỷ", "khoẻ") vs new-style ("hòa", "thủy", "khỏe") placement for the
# vowel pairs oa, oe, uy: the old style marks the second vowel, the new style the first.
# Only syllables that end after the pair are affected ("hoàng" is the same in both styles).
_TONES = "\u0300\u0301\u0303\u0309\u0323"  # grave, acute, tilde, hook above, dot below
_PAIRS = ("oa", "oe", "uy", "Oa", "Oe", "Uy", "OA", "OE", "UY")


def _build_tone_table() -> dict[str, str]:
    table = {}
    for pair in _PAIRS:
        first, second = pair
        for tone in _TONES:
            old = first + unicodedata.normalize("NFC", second + tone)
            new = unicodedata.normalize("NFC", first + tone) + second
            table[old] = new
    return table


_TONE_TABLE = _build_tone_table()
# A candidate is o/u followed by a tone-marked a, e or y that ends the syllable; the table
# decides (mixed-case pairs such as "oÀ" are not in it and stay as written). After "q" the
# "u" belongs to the consonant ("quý" is already modern), so that case is skipped.
# It starts with a plain character class so the regex engine can skip ahead to candidates.
_TONE_RE = re.compile(
    r"[oOuU](?<![qQ][oOuU])(?:(?<=[oO])[àáãảạÀÁÃẢẠèéẽẻẹÈÉẼẺẸ]|(?<=[uU])[ỳýỹỷỵỲÝỸỶỴ])(?![^\W\d_])")


def modern_tone_marks(text: str) -> str:
    """Move old-style tone marks to the modern position. Length-preserving. Expects NFC."""
    return _TONE_RE.sub(lambda m: _TONE_TABLE.get(m.group(0), m.group(0)), text)


def _fold_char(c: str) -> str:
    if c in "đĐ":
        return "d"
    base = unicodedata.normalize("NFD", c)[0]
    low = base.lower()
    return low if len(low) == 1 else base


# Latin, Greek, Cyrillic and the Vietnamese block: every character that folds to another one.
_FOLD_TABLE = {cp: _fold_char(chr(cp)) for cp in [*range(0x0590), *range(0x1E00, 0x1F00)]
               if _fold_char(chr(cp)) != chr(cp)}


def fold(text: str) -> str:
    """Lower-case and strip diacritics, one output character per input character."""
    return text.translate(_FOLD_TABLE)


def lower_same_length(text: str) -> str:
    """``text.lower()`` with one character for one, so that offsets carry over: a character
    whose lower case is longer ("İ" -> "i̇") is left as it is."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


@dataclass(slots=True)
class Doc:
    """One record's text as the rules see it. Build with :func:`make_doc`."""

    text: str  # the original, untouched
    norm: str  # NFC + modern tone marks
    ref_date: date | None = None  # the record's own date, for relative expressions
    # norm index -> original index; None when NFC did not change the length (the usual case)
    _index: list[int] | None = field(default=None, repr=False)
    _folded: str | None = field(default=None, repr=False)
    _lower: str | None = field(default=None, repr=False)
    # Answers about this record that several rules ask (``rules.common.per_record``): kept
    # here, they are computed once per record and dropped with it.
    facts: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = fold(self.norm)
        return self._folded

    @property
    def lower(self) -> str:
        """``norm`` lower-cased one character for one (``lower_same_length``): words are
        matched on it case-insensitively, far cheaper for Aho-Corasick automata than adding
        every spelling; several rules search it, so it is made once per record."""
        if self._lower is None:
            self._lower = lower_same_length(self.norm)
        return self._lower

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) range of ``norm`` to the original text.

        The end moves past combining marks that follow it, so a span never separates a
        letter from its accent (NFC leaves e.g. "4" + U+0301 as two characters).
        """
        if self._index is not None:
            start, end = self._index[start], self._index[end]
        text = self.text
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        return start, end


def _nfc_with_index(text: str) -> tuple[str, list[int] | None]:
    norm = unicodedata.normalize("NFC", text)
    if len(norm) == len(text):
        return norm, None
    # Compose cluster by cluster: a cluster is a starter plus its combining marks, and NFC
    # never merges across starters except for Hangul jamo, which we keep as-is.
    pieces, index, pos = [], [], 0
    for m in re.finditer(r".[\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*", text, re.S):
        composed = unicodedata.normalize("NFC", m.group(0))
        pieces.append(composed)
        # The first composed character absorbs the base and the marks NFC merged into it;
        # marks NFC could not merge stay behind, in order, as the cluster's last characters.
        skipped = len(m.group(0)) - len(composed)
        index.append(m.start())
        index.extend(m.start() + skipped + k for k in range(1, len(composed)))
        pos = m.end()
    norm = "".join(pieces)
    index.append(pos)
    return norm, index


def make_doc(text: str, ref_date: date | None = None) -> Doc:
    norm, index = _nfc_with_index(text)
    return Doc(text=text, norm=modern_tone_marks(norm), ref_date=ref_date, _index=index)
