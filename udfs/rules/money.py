"""MONEY: amounts with a currency or a scale word ("618.000đ", "1,2 triệu", "$50", "500k").

A bare number is never money. An amount with a scale word and no currency ("1,2 triệu",
"500k") is VND unless the word after it shows that it counts something else ("9 triệu
người"). A range whose first number borrows the scale and currency of the second
("10-15 triệu") gives one span per item. Records typed without diacritics ("2 trieu
dong") are read with the vocabulary stripped of them. Vocabulary: ``conf/rules/money.yaml``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from ..config import ConfigError
from ..spans import Span
from ..textnorm import Doc
from .base import register_rule
from .common import (DIGIT_START, NUMBER, NUMBER_END, NUMBER_REST, AccentAwareExtractor, WordsBefore, cased_literal,
                     char_class, digit_led_matches, fold_vocab, format_decimal, load_rule_settings, parse_number,
                     phrases_pattern, prefix_pattern, words_after)

_SPACED_K = re.compile(r"[0-9]\s+[kK]$")  # chat "k" alone is also "không" (no)
_WORD_AFTER = re.compile(r"\s+[^\W\d_]")


def _is_code(value: str) -> bool:
    return len(value) == 3 and value.isascii() and value.isupper()


# --- money ----------------------------------------------------------------------------


@dataclass
class MoneyVocab:
    currencies_after: dict[str, str] = field(metadata={"check": lambda d: all(map(_is_code, d.values())), "help": "ISO 4217 codes (3 upper-case letters)"})
    currencies_before: dict[str, str] = field(metadata={"check": lambda d: all(map(_is_code, d.values())), "help": "ISO 4217 codes (3 upper-case letters)"})
    scales: dict[str, int] = field(metadata={"check": lambda d: all(v > 0 for v in d.values()), "help": "positive multipliers"})
    default_currency: str = field(default="VND", metadata={"check": _is_code, "help": "an ISO 4217 code"})
    shorthand_scales: list[str] = field(default_factory=list)
    currency_not_before: dict[str, list[str]] = field(default_factory=dict)
    not_money_if_followed_by: list[str] = field(default_factory=list)
    still_money_if_followed_by: list[str] = field(default_factory=list)
    k_not_money_if_preceded_by: list[str] = field(default_factory=list)
    half_word: str = "rưỡi"  # "1 triệu rưỡi" = 1.5 million
    not_without_accents: list[str] = field(default_factory=list)

    def __post_init__(self):
        unknown = [s for s in self.shorthand_scales if s not in self.scales]
        if unknown:
            raise ConfigError(f"shorthand_scales: {unknown[0]!r} is not one of the scales")


class MoneyExtractor(AccentAwareExtractor):
    """The `money` rule (see the module docstring). Records typed without diacritics
    ("1 trieu 2") are read with the same vocabulary stripped of them."""

    name = "money"
    labels = ("MONEY",)

    def __init__(self, vocab: MoneyVocab):
        self.vocab = vocab
        super().__init__(_MoneyGrammar(vocab), _MoneyGrammar(fold_vocab(vocab)))


class _MoneyGrammar:
    name = "money"

    def __init__(self, vocab: MoneyVocab):
        self.vocab = vocab
        self._scales = {k.lower(): Decimal(v) for k, v in vocab.scales.items()}
        self._shorthands = {s.lower() for s in vocab.shorthand_scales}
        self._after = {" ".join(k.lower().split()): v for k, v in vocab.currencies_after.items()}
        self._before = {k.lower(): v for k, v in vocab.currencies_before.items()}
        scale = rf"(?:{phrases_pattern(vocab.scales, guard=True, cased=True)})(?![^\W\d_])"
        half = vocab.half_word
        # Scale words after a number ("3 triệu 500 nghìn") and a tail that is a fraction of
        # the last scale ("1tr2", "1 triệu 2", "1 triệu rưỡi").
        half_word = phrases_pattern([half], cased=True)
        scaled = (
            rf"\s*{scale}(?:\s*{NUMBER}\s*{scale})*"
            rf"(?:\s+{half_word}(?!\w)|\s*[0-9]{{1,3}}{NUMBER_END}(?![/:-]?[0-9])(?![^\W\d_]))?"
        )
        cur_after = rf"(?:{phrases_pattern(vocab.currencies_after, guard=True, cased=True)})(?![^\W\d_])"
        # "$50", "USD 1,200": the currency stands before the number's first digit.
        pre = "|".join(rf"(?<={cased_literal(c)}[0-9])|(?<={cased_literal(c)}\s[0-9])" for c in vocab.currencies_before)
        # Quick tests that let most numbers (phones, codes, counts) fail at once: a currency
        # sign or code right before, or how a scale, currency or range dash begins after.
        last_of_pre = char_class(c[-1] for c in vocab.currencies_before)
        can_follow = prefix_pattern(list(vocab.scales) + list(vocab.currencies_after), cased=True)
        guard = rf"(?:(?<={last_of_pre}[0-9])|(?<={last_of_pre}\s[0-9])|(?=[0-9.,]*+(?:\s*[-–]|\s*{can_follow})))"
        # Without a scale word or a currency a number is no money: the regex says so itself
        # (the conditionals at the end), so bare numbers never reach Python code. Its words
        # are spelled in both cases ("[tT][rR]") rather than compiled with IGNORECASE, which
        # slows every comparison the engine makes as it tests each number.
        self._pattern = re.compile(
            DIGIT_START + guard + "(?:"
            rf"(?:{pre or '(?!)'})(?P<pre>{NUMBER_REST}(?:{scaled})?){NUMBER_END}(?![/:-][0-9])"
            rf"|(?P<first>{NUMBER_REST})\s*[-–]\s*(?P<second>{NUMBER}(?P<second_scaled>{scaled})?){NUMBER_END}"
            rf"(?:\s*(?P<second_cur>{cur_after}))?(?(second_scaled)|(?(second_cur)|(?!)))"
            rf"|(?P<amount>{NUMBER_REST}(?P<scaled>{scaled})?){NUMBER_END}"
            rf"(?:\s*(?P<cur>{cur_after}))?(?(scaled)|(?(cur)|(?!)))"
            ")"
        )
        self._pre_currency = re.compile(rf"(?P<cur>{phrases_pattern(vocab.currencies_before)})\s?$", re.IGNORECASE)
        self._parts = re.compile(rf"(?P<num>{NUMBER})|(?P<scale>{phrases_pattern(vocab.scales)})|(?P<half>{phrases_pattern([half])})", re.IGNORECASE)
        self._not_money_after = words_after(vocab.not_money_if_followed_by, unless=vocab.still_money_if_followed_by)
        self._k_blockers = WordsBefore(vocab.k_not_money_if_preceded_by, window=40)
        self._currency_blockers = {
            " ".join(word.lower().split()): words_after(followers)
            for word, followers in vocab.currency_not_before.items()
        }
        # The same amounts ("500k", "1.250.000đ") recur from record to record.
        self._amount = lru_cache(maxsize=4096)(self._read_amount)

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        spans = []
        for m in digit_led_matches(self._pattern, doc):
            for start, end, value, code, score in self._read(text, m):
                s, e = doc.to_original(start, end)
                spans.append(Span(s, e, "MONEY", score, "rule", f"{format_decimal(value)} {code}", self.name))
        return spans

    # Each reader returns [(start, end, value, currency, score)], empty when it is no money.
    def _read(self, text: str, m: re.Match) -> list[tuple]:
        if m.group("pre") is not None:
            cur = self._pre_currency.search(text, max(0, m.start() - 5), m.start())
            if cur is None:
                return []
            value, _, _ = self._amount(text[m.start():m.end("pre")])
            return [(cur.start(), m.end(), value, self._before[cur["cur"].lower()], 0.97)]
        if m.group("first") is not None:
            second = self._priced(text, m, m.start("second"), m.end("second"), "second_cur")
            if not second:
                return []
            start, end, second_value, code, score, top_scale = second
            first_value = parse_number(text[m.start():m.end("first")]) * top_scale
            if first_value >= second_value:  # "2024 - 500k" is no range: only 500k is money
                return [(start, end, second_value, code, score)]
            return [(m.start(), m.end("first"), first_value, code, 0.85), (start, end, second_value, code, score)]
        priced = self._priced(text, m, m.start(), m.end("amount"), "cur")
        return [priced[:5]] if priced else []

    def _priced(self, text: str, m: re.Match, start: int, end: int, cur_group: str):
        """(start, end, value, code, score, top scale) of a number + scale/currency, or None."""
        amount_text = text[start:end]
        code = None
        cur = m.group(cur_group)
        if cur is not None:
            cur_key = " ".join(cur.lower().split())
            blockers = self._currency_blockers.get(cur_key)
            if blockers is None or not blockers.match(text, m.end(cur_group)):
                code = self._after[cur_key]
                end = m.end(cur_group)
        value, scales, tail = self._amount(amount_text)
        if code is None:
            if not scales:
                return None  # a bare number is not money ("2 đồng nghiệp")
            if tail is not None and self._not_money_after.match(text, start + tail[1]):
                # "1 triệu 2 cái áo": the tail counts things; the amount ends before it.
                head = amount_text[: tail[0]].rstrip()
                end = start + len(head)
                value, scales, _ = self._amount(head)
            if self._not_money_after.match(text, end):
                return None
            shorthand = scales[0] in self._shorthands
            if shorthand and (text, start) in self._k_blockers:
                return None
            if _SPACED_K.search(amount_text) and _WORD_AFTER.match(text, end):
                return None  # "AirPods 3 k shop?": a detached "k" before a word is "không" (no)
            code = self.vocab.default_currency
            score = 0.9 if shorthand else 0.85
        else:
            score = 0.97
        top_scale = self._scales[scales[0]] if scales else Decimal(1)
        return start, end, value, code, score, top_scale

    def _read_amount(self, amount_text: str) -> tuple:
        """Value of an amount, its scale words (in order) and the (start, end) of its tail."""
        total = Decimal(0)
        pending = None  # the number waiting for its scale
        last_scale = None
        scales = []
        tail = None
        for part in self._parts.finditer(amount_text):
            if part.group("num") is not None:
                if pending is None:
                    pending = parse_number(part.group("num"))
                    pending_span = part.span()
                continue
            if part.group("half") is not None:
                if last_scale is not None:
                    total += last_scale / 2
                    tail = part.span()
                continue
            scale_key = " ".join(part.group("scale").lower().split())
            if pending is None:
                continue
            last_scale = self._scales[scale_key]
            scales.append(scale_key)
            total += pending * last_scale
            pending = None
        if pending is not None:
            if last_scale is None:
                return pending, tuple(scales), None
            # A tail after a scale is its next digits: "1tr2" = 1.2 triệu, "1tr250" = 1.25.
            digits = amount_text[pending_span[0]:pending_span[1]]
            total += Decimal(digits) * last_scale / (10 ** len(digits))
            tail = pending_span
        return total, tuple(scales), tail


@register_rule("money")
def build_money(options: dict | None = None) -> MoneyExtractor:
    return MoneyExtractor(load_rule_settings(MoneyVocab, "money", options))
