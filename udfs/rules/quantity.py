"""QUANTITY: measured quantities, product counts and clothing sizes.

"2,16 m" -> "2.16 m", "1m65" -> "1.65 m", "3 hộp" -> "3 hộp", "M size" -> "size M".
In "A x B unit" the first size inherits a length unit ("2,16 x 1,2 m" gives two spans);
"3 x 500ml" gives only "500ml" (three bottles of 500 ml). A count of things ("3 hộp") has
no leading zero and fewer than seven digits: "0790284139 bao" is a phone number before "bao
giờ". Money, dates, clock times and durations use words that are not units here, so they
are never quantities. Records typed without diacritics ("3 hop") are read with the
vocabulary stripped of them, less the words that become ambiguous ("bao": bag or "báo").
Vocabulary: ``conf/rules/quantity.yaml``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from ..spans import Span
from ..textnorm import Doc
from .base import register_rule
from .common import (NUMBER, NUMBER_REST, AccentAwareExtractor, digit_led_matches, fold_vocab, format_decimal,
                     load_rule_settings, parse_number, phrases_pattern, prefix_pattern)


@dataclass
class QuantityVocab:
    symbols: dict[str, str]  # case-sensitive unit symbol -> canonical unit
    words: dict[str, str]  # case-insensitive unit word -> canonical unit
    classifiers: list[str]
    dimension_units: list[str] = field(default_factory=list)
    size_words: list[str] = field(default_factory=lambda: ["size"])
    size_letters: list[str] = field(default_factory=list)
    free_sizes: list[str] = field(default_factory=list)  # "Free size" -> "size FREE"
    unit_not_before: dict[str, list[str]] = field(default_factory=dict)  # "ký kết" signs, weighs nothing
    not_without_accents: list[str] = field(default_factory=list)


class QuantityExtractor(AccentAwareExtractor):
    """The `quantity` rule (see the module docstring). Records typed without diacritics
    ("3 hop") are read with the same vocabulary stripped of them."""

    name = "quantity"
    labels = ("QUANTITY",)

    def __init__(self, vocab: QuantityVocab):
        self.vocab = vocab
        super().__init__(_QuantityGrammar(vocab), _QuantityGrammar(fold_vocab(vocab)))


class _QuantityGrammar:
    name = "quantity"

    def __init__(self, vocab: QuantityVocab):
        self.vocab = vocab
        self._symbols = dict(vocab.symbols)
        self._words = {" ".join(k.lower().split()): v for k, v in vocab.words.items()}
        self._classifiers = {" ".join(c.lower().split()) for c in vocab.classifiers}
        self._words.update({c: c for c in self._classifiers})
        self._dimension_units = set(vocab.dimension_units)
        # a unit ends the word, unless a dimension follows at once ("46cmx2,07m")
        unit = (
            rf"(?:(?P<sym>{phrases_pattern(vocab.symbols, guard=True, fold_case=False)})"
            rf"|(?P<word>{phrases_pattern(self._words, guard=True, cased=True)}))(?:(?!\w)|(?=x[0-9]))"
        )
        self._unit_blockers = {
            " ".join(word.lower().split()): re.compile(rf"\s+(?:{phrases_pattern(after)})(?!\w)", re.IGNORECASE)
            for word, after in vocab.unit_not_before.items()
        }
        size_letters = phrases_pattern(vocab.size_letters, fold_case=False) or r"(?!)"
        # Digit-anchored like money's pattern: the leading [0-9] consumes the number's first
        # digit, so the regex engine skips between numbers in C. The lookahead after it (how
        # a unit begins) lets most numbers fail at once. Words are spelled in both cases
        # ("[kK][gG]"): case-insensitive groups "(?i:...)" make every number's test slower.
        can_follow = prefix_pattern(list(vocab.symbols) + list(self._words), end=r"(?:(?![^\W\d_])|(?=[xX][0-9]))",
                                    cased=True)
        # A number starts here: not inside a word, a code, a date or a phone ("762-830-897",
        # "0903 123 456"), but right after the "x" of a dimension ("46cmx2,07m"); a run of
        # six digits or more counts nothing.
        start = r"[0-9](?:(?<![\w.,\-/][0-9])(?<![0-9] [0-9])|(?<=[^\W\d_][x×][0-9]))(?![0-9]{5})"
        self._pattern = re.compile(
            start + rf"(?=[0-9.,]*+\s*(?:[x×*/m]|{can_follow}))(?:"
            # Height shorthand "1m65", "1m6", "2m5"; "5m2" is an area, matched below.
            r"(?P<short>(?<=1)m[0-9]{1,2}|(?<=[2-9])m(?:[0-9]{2}|[014-9]))(?!\w)"
            r"|(?P<pressure>[0-9]{1,2}/[0-9]{2,3})\s*mmHg(?!\w)"
            rf"|(?P<num>{NUMBER_REST})(?:\s*[x×*]\s*(?P<num2>{NUMBER})(?:\s*[x×*]\s*(?P<num3>{NUMBER}))?)?\s*{unit}"
            ")"
        )
        # Sizes carry no digit ("size M"); this scan runs only when a size word is present.
        self._sizes = re.compile(
            rf"(?<!\w)(?:(?i:{phrases_pattern(vocab.size_words)})\s*(?:(?P<size_letters>(?i:{size_letters}))|(?P<size_number>[0-9]{{1,2}}(?:[.,]5)?))"
            rf"|(?P<size_first>{size_letters})\s+(?i:size)"
            rf"|(?P<free>(?i:{phrases_pattern(vocab.free_sizes) or '(?!)'})))(?!\w)"
        )
        # A quick test for a size word: the tail of each word ("ize" of "size") in lower or
        # upper case, looked for as substrings (far cheaper than a regex alternation, which
        # the regex engine tries at every position).
        tails = {t for w in vocab.size_words + vocab.free_sizes for t in (w[1:].lower(), w[1:].upper()) if t}
        # a tail that contains another one adds nothing ("ize" holds "z" of "sz")
        self._size_hints = tuple(sorted(t for t in tails if not any(o != t and o in t for o in tails)))

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        found = [item for m in digit_led_matches(self._pattern, doc) for item in self._read_number(m)]
        if any(hint in text for hint in self._size_hints):
            found += [self._read_size(m) for m in self._sizes.finditer(text)]
            found.sort()
        spans = []
        for start, end, normalized, score in found:
            s, e = doc.to_original(start, end)
            spans.append(Span(s, e, "QUANTITY", score, "rule", normalized, self.name))
        return spans

    def _read_number(self, m: re.Match) -> list[tuple[int, int, str, float]]:
        text = m.string
        if m.group("short") is not None:
            whole, frac = text[m.start():m.end()].split("m")  # "1m65"
            return [(m.start(), m.end(), f"{format_decimal(Decimal(f'{whole}.{frac}'))} m", 0.9)]
        if m.group("pressure") is not None:
            return [(m.start(), m.end(), f"{text[m.start():m.end('pressure')]} mmHg", 0.95)]
        if m.group("sym") is not None:
            unit = self._symbols[m.group("sym")]
        else:
            word = " ".join(m.group("word").lower().split())
            blockers = self._unit_blockers.get(word)
            if blockers is not None and blockers.match(text, m.end()):
                return []
            unit = self._words[word]
        # (start, end) of each number; the first one begins at the consumed first digit
        numbers = [(m.start(), m.end("num"))] + [m.span(g) for g in ("num2", "num3") if m.group(g) is not None]
        if unit in self._classifiers and not _plausible_count(text[numbers[-1][0]:numbers[-1][1]]):
            return []  # "0790284139 bao": a phone number, not a count
        out = []
        if unit in self._dimension_units:
            # "2,16 x 1,2 m": every size of the product carries the unit written last.
            out = [(a, b, f"{_value(text, a, b)} {unit}", 0.85) for a, b in numbers[:-1]]
        a, b = numbers[-1]
        out.append((a, m.end(), f"{_value(text, a, b)} {unit}", 0.92))
        return out

    @staticmethod
    def _read_size(m: re.Match) -> tuple[int, int, str, float]:
        if m.group("free") is not None:  # "Free size"
            return m.start(), m.end(), "size FREE", 0.9
        if m.group("size_first") is not None:  # "M size"
            return m.start(), m.end(), f"size {' '.join(m.group('size_first').split())}", 0.9
        if m.group("size_number") is not None:  # "size 39", "size 39,5"
            return m.start(), m.end(), f"size {format_decimal(parse_number(m.group('size_number')))}", 0.95
        return m.start(), m.end(), f"size {' '.join(m.group('size_letters').upper().split())}", 0.95


def _plausible_count(number: str) -> bool:
    """Can ``number`` count things? Not with a leading zero ("0790284139 bao", "05 hộp": a
    phone number, a code) nor with 7 digits or more ("1.500.000 hộp" is no order)."""
    if len(number) > 1 and number[0] == "0" and number[1].isdigit():
        return False
    if number.isdigit():  # the usual "3"
        return len(number) < 7
    value = parse_number(number)
    return value != int(value) or len(str(int(value))) < 7


def _value(text: str, start: int, end: int) -> str:
    return format_decimal(parse_number(text[start:end]))


@register_rule("quantity")
def build_quantity(options: dict | None = None) -> QuantityExtractor:
    return QuantityExtractor(load_rule_settings(QuantityVocab, "quantity", options))
