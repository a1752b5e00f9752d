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
from functools import lru_cache

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
# A pair followed by a letter is inside a longer syllable ("hoàng"): leave it alone.
# After "q" the "u" belongs to the consonant ("quý" is already modern), so skip that case.
_TONE_RE = re.compile(
    r"(?<![qQ])(" + "|".join(map(re.escape, _TONE_TABLE)) + r")(?![^\W\d_])"
)


def modern_tone_marks(text: str) -> str:
    """Move old-style tone marks to the modern position. Length-preserving. Expects NFC."""
    if not any(c in text for c in "àáãảạèéẽẻẹỳýỹỷỵÀÁÃẢẠÈÉẼẺẸỲÝỸỶỴ"):
        return text
    return _TONE_RE.sub(lambda m: _TONE_TABLE[m.group(1)], text)


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    if c in "đĐ":
        return "d"
    base = unicodedata.normalize("NFD", c)[0]
    low = base.lower()
    return low if len(low) == 1 else base


def fold(text: str) -> str:
    """Lower-case and strip diacritics, one output character per input character."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(c) for c in text)


@dataclass
class Doc:
    """One record's text as the rules see it. Build with :func:`make_doc`."""

    text: str  # the original, untouched
    norm: str  # NFC + modern tone marks
    ref_date: date | None = None  # the record's own date, for relative expressions
    # norm index -> original index; None when NFC did not change the length (the usual case)
    _index: list[int] | None = field(default=None, repr=False)
    _folded: str | None = field(default=None, repr=False)

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = fold(self.norm)
        return self._folded

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) range of ``norm`` to the original text."""
        if self._index is None:
            return start, end
        return self._index[start], self._index[end]


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
        index.extend([m.start()] * len(composed))
        pos = m.end()
    norm = "".join(pieces)
    index.append(pos)
    return norm, index


def make_doc(text: str, ref_date: date | None = None) -> Doc:
    norm, index = _nfc_with_index(text)
    return Doc(text=text, norm=modern_tone_marks(norm), ref_date=ref_date, _index=index)
