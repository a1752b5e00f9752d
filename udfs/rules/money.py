"""MONEY: amounts with a currency or a scale word ("618.000đ", "1,2 triệu", "$50", "500k").

A bare number is never money. An amount with a scale word and no currency ("1,2 triệu",
"500k") is VND unless the word after it shows that it counts something else ("9 triệu
người"). A range whose first number borrows the scale and currency of the second
("10-15 triệu") gives one span per item. Records typed without diacritics ("2 trieu
dong") are read with the vocabulary stripped of them. Vocabulary: ``conf/rules/money.yaml``.

This module also holds the helpers the temporal and quantity extractors share: reading
Vietnamese/English numbers, loading and validating a rule's YAML, building fast phrase
patterns, looking at the word before a position, reading unaccented records.
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path

import yaml

from ..config import ConfigError, from_dict
from ..spans import Span
from ..textnorm import Doc
from .base import register_rule

# --- shared helpers -------------------------------------------------------------------

# A number as written in Vietnamese ("1.250.000", "2,16") or English ("618,000", "2.5").
# ASCII digits only: other scripts' digits are not numbers in our records.
# Lengths are bounded: a run of thousands of digits is no amount (and int() refuses it).
NUMBER = (
    r"(?:[0-9]{1,3}(?:\.[0-9]{3}){1,6}(?:,[0-9]{1,6})?"
    r"|[0-9]{1,3}(?:,[0-9]{3}){1,6}(?:\.[0-9]{1,6})?"
    r"|[0-9]{1,18}(?:[.,][0-9]{1,6})?)"
)
# Where a number may start and end: not inside a word, a code or a longer number.
NUMBER_END = r"(?![0-9]|[.,][0-9])"
# Digit-anchored patterns start with DIGIT_START, which consumes a number's FIRST digit:
# a pattern whose first item is a character class lets the regex engine skip ahead in C
# to the next digit (any other start makes it try the whole pattern at every position).
# NUMBER_REST is what follows that first digit in a NUMBER.
DIGIT_START = r"[0-9](?<![\w.,][0-9])"
NUMBER_REST = (
    r"(?:[0-9]{0,2}(?:\.[0-9]{3}){1,6}(?:,[0-9]{1,6})?"
    r"|[0-9]{0,2}(?:,[0-9]{3}){1,6}(?:\.[0-9]{1,6})?"
    r"|[0-9]{0,17}+(?:[.,][0-9]{1,6})?)"
)
_DOT_GROUPS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?")
_COMMA_GROUPS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_SPACED_K = re.compile(r"[0-9]\s+[kK]$")  # chat "k" alone is also "không" (no)
_WORD_AFTER = re.compile(r"\s+[^\W\d_]")


def parse_number(text: str) -> Decimal | int:
    """Read a number matched by ``NUMBER``: 3-digit groups are thousands, else decimals."""
    if text.isdigit():
        return int(text)
    if _DOT_GROUPS.fullmatch(text):
        return Decimal(text.replace(".", "").replace(",", "."))
    if _COMMA_GROUPS.fullmatch(text):
        return Decimal(text.replace(",", ""))
    return Decimal(text.replace(",", "."))


def format_decimal(value: Decimal | int) -> str:
    """Plain decimal: no exponent, no thousands separators, no trailing zeros."""
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def phrases_pattern(phrases, guard: bool = False, fold_case: bool = True, cased: bool = False) -> str:
    """A regex matching any of ``phrases``; a space in a phrase matches any whitespace run.

    The phrases are laid out as a trie ("t(?:r(?:iệu)?|ỷ)"), so a failing position costs
    one comparison per letter instead of one attempt per phrase; at each branch the longer
    continuation is tried first. ``fold_case`` lower-cases the phrases: use it only in a
    case-insensitive pattern, or with ``cased``, which spells every letter in both cases
    ("[tT][rR]") for a pattern compiled without IGNORECASE (faster to run).
    ``guard`` adds a lookahead of the possible first letters.
    """
    words = {" ".join(p.split()) for p in phrases if p and p.strip()}
    if fold_case or cased:
        words = {w.lower() for w in words}
    if not words:
        return ""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a phrase ends here
    pattern = _trie_pattern(trie, cased)
    if not guard:
        return pattern
    return "(?=" + char_class(w[0] for w in words) + ")" + pattern


def _char(char: str, cased: bool) -> str:
    if char == " ":
        return r"\s+"
    if cased and char.lower() != char.upper() and len(char.upper()) == 1:
        return "[" + re.escape(char.lower()) + re.escape(char.upper()) + "]"
    return re.escape(char)


def _trie_pattern(node: dict, cased: bool) -> str:
    branches = [_char(char, cased) + _trie_pattern(child, cased) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # the phrase may also end here: try the longer ones first
        return "(?:" + body + ")?"
    return body


class WordsBefore:
    """Which of some words or phrases ends right before a position (whitespace, and one of
    ``:#.`` as in "q. 7" or "SĐT: 09...", may come between). Case-insensitive.

    Plain string operations on the characters before the position, and most positions are
    settled by one character: cheaper than a regex searched over that window, and this is
    asked several times per atom.
    """

    _EDGE = "([{\"'“‘-–,;"  # punctuation glued to the left of the word: "(ngày 12/3)"

    def __init__(self, phrases, window: int = 24):
        self._phrases = {" ".join(p.lower().split()) for p in phrases if p and p.strip()}
        self._last_words = {p.rsplit(None, 1)[-1] for p in self._phrases}
        self._longest = max((len(p.split()) for p in self._phrases), default=0)
        self._last_chars = {p[-1] for p in self._phrases} | set(":#.")
        self._window = window

    def find(self, text: str, pos: int) -> tuple[int, str] | None:
        """(start, phrase as a key) of the phrase ending before ``pos``, or None."""
        i = pos - 1
        while i >= 0 and text[i].isspace():
            i -= 1
        if i < 0 or text[i].lower() not in self._last_chars:
            return None  # the usual case, settled by looking at one character
        low = max(0, pos - self._window)
        head = text[low:pos].rstrip()
        if head and head[-1] in ":#.":
            head = head[:-1].rstrip()
        words = head.rsplit(None, self._longest)
        if not words:
            return None
        last = words[-1].lower()
        if last not in self._last_words and last.lstrip(self._EDGE) not in self._last_words:
            return None  # the usual case: settled by one set lookup
        if len(words) > self._longest:
            words = words[1:]  # the rest of the window, unsplit
        for k in range(len(words), 0, -1):
            tail = words[-k:]
            phrase = " ".join(tail).lower()
            glued = len(tail[0]) - len(tail[0].lstrip(self._EDGE))
            if phrase not in self._phrases:
                phrase = phrase[glued:]
                if not glued or phrase not in self._phrases:
                    continue
            start = len(head)
            for word in reversed(tail):
                start = head.rindex(word, 0, start)
            return low + start + glued, phrase
        return None

    def __contains__(self, place: tuple[str, int]) -> bool:
        """``(text, pos) in words``: does one of the words end right before ``pos``?"""
        return self.find(*place) is not None


def char_class(chars) -> str:
    """A regex character class of ``chars`` in both cases (for a fast one-character test)."""
    both = sorted({c for ch in chars for c in (ch.lower(), ch.upper()) if len(c) == 1})
    return "[" + "".join(re.escape(c) for c in both) + "]" if both else "(?!)"


def prefix_pattern(phrases, length: int = 3, cased: bool = False, end: str = r"(?![^\W\d_])") -> str:
    """Matches how any of ``phrases`` begins: its first ``length`` characters, or the whole
    phrase when shorter, followed by ``end`` (by default: no letter). Case-insensitive, with
    IGNORECASE or spelled in both cases (``cased``).

    Used in lookaheads: one cheap test that lets a regex give up on "2 thùng" before
    trying every scale word, currency or unit.
    """
    heads, wholes = set(), set()
    for phrase in phrases:
        phrase = " ".join(phrase.lower().split())
        if not phrase:
            continue
        (heads.add(phrase[:length].strip()) if len(phrase) > length else wholes.add(phrase))
    parts = []
    if heads:
        parts.append(phrases_pattern(heads, cased=cased))
    if wholes:
        parts.append(f"(?:{phrases_pattern(wholes, cased=cased)}){end}")
    return "(?:" + "|".join(parts) + ")" if parts else "(?!)"


def load_rule_conf(name: str, conf_path: str | None) -> dict:
    """The YAML mapping of a rule: ``conf_path`` if given, else the packaged default."""
    if conf_path:
        path = Path(conf_path)
        if not path.is_file():
            raise ConfigError(f"{name}.conf_path: no such file: {conf_path}")
        text = path.read_text(encoding="utf-8")
        where = str(path)
    else:
        text = (resources.files("nerlake.conf") / "rules" / f"{name}.yaml").read_text(encoding="utf-8")
        where = f"nerlake.conf/rules/{name}.yaml"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: {where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: {where} must hold a mapping, got {type(data).__name__}")
    return data


def load_vocab(cls, name: str, conf_path: str | None):
    """The rule's YAML (see ``load_rule_conf``) validated into dataclass ``cls``."""
    data = load_rule_conf(name, conf_path)
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{name}: missing key(s) {', '.join(missing)} in {conf_path or 'the packaged ' + name + '.yaml'}")
    return from_dict(cls, data, prefix=name)


_VIETNAMESE_ACCENTED = re.compile(
    "[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
    "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ]"
)


def typed_without_accents(text: str) -> bool:
    """True for a record with no Vietnamese diacritic at all ("hom qua em chuyen 500k"):
    its words are read with the vocabulary stripped of accents."""
    return text.isascii() or _VIETNAMESE_ACCENTED.search(text) is None


def strip_accents(text: str) -> str:
    """``text`` without Vietnamese diacritics, letter case kept ("Đồng" -> "Dong")."""
    if text.isascii():
        return text
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare.replace("đ", "d").replace("Đ", "D"))


def fold_vocab(vocab):
    """A copy of vocabulary dataclass ``vocab`` with every word stripped of its diacritics
    (letter case kept), for records typed without them ("1 trieu 2", "3 hop"). The words in
    its ``not_without_accents`` field are left out: they become ambiguous ("do" is "độ",
    "đô" and "do"). Dictionary keys, list items and list values are folded, not the rest."""
    dropped = set(getattr(vocab, "not_without_accents", ()))

    def fold_item(item):
        if isinstance(item, str):
            return strip_accents(item)
        if isinstance(item, list):
            return [fold_item(x) for x in item if x not in dropped]
        return item

    changes = {}
    for f in dataclasses.fields(vocab):
        value = getattr(vocab, f.name)
        if isinstance(value, dict):
            changes[f.name] = {strip_accents(k): fold_item(v) if isinstance(v, list) else v
                               for k, v in value.items() if k not in dropped}
        elif isinstance(value, list):
            changes[f.name] = fold_item(value)
    return dataclasses.replace(vocab, **changes)


@dataclass
class RuleOptions:
    """Options every rule of this family takes from the rules config."""

    conf_path: str | None = None  # a YAML file replacing the packaged vocabulary


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
    k_not_money_if_preceded_by: list[str] = field(default_factory=list)
    half_word: str = "rưỡi"  # "1 triệu rưỡi" = 1.5 million
    not_without_accents: list[str] = field(default_factory=list)

    def __post_init__(self):
        unknown = [s for s in self.shorthand_scales if s not in self.scales]
        if unknown:
            raise ConfigError(f"shorthand_scales: {unknown[0]!r} is not one of the scales")


class MoneyExtractor:
    """The `money` rule (see the module docstring). Records typed without diacritics
    ("1 trieu 2") are read with the same vocabulary stripped of them."""

    name = "money"
    labels = ("MONEY",)

    def __init__(self, vocab: MoneyVocab):
        self.vocab = vocab
        self._accented = _MoneyGrammar(vocab)
        self._plain = _MoneyGrammar(fold_vocab(vocab))

    def extract(self, doc: Doc) -> list[Span]:
        return (self._plain if typed_without_accents(doc.norm) else self._accented).extract(doc)


class _MoneyGrammar:
    name = "money"

    def __init__(self, vocab: MoneyVocab):
        self.vocab = vocab
        self._scales = {k.lower(): Decimal(v) for k, v in vocab.scales.items()}
        self._shorthands = {s.lower() for s in vocab.shorthand_scales}
        self._after = {" ".join(k.lower().split()): v for k, v in vocab.currencies_after.items()}
        self._before = {k.lower(): v for k, v in vocab.currencies_before.items()}
        scale = rf"(?:{phrases_pattern(vocab.scales, guard=True)})(?![^\W\d_])"
        half = vocab.half_word
        # Scale words after a number ("3 triệu 500 nghìn") and a tail that is a fraction of
        # the last scale ("1tr2", "1 triệu 2", "1 triệu rưỡi").
        scaled = (
            rf"\s*{scale}(?:\s*{NUMBER}\s*{scale})*"
            rf"(?:\s+{phrases_pattern([half])}(?!\w)|\s*[0-9]{{1,3}}{NUMBER_END}(?![/:-]?[0-9])(?![^\W\d_]))?"
        )
        cur_after = rf"(?:{phrases_pattern(vocab.currencies_after, guard=True)})(?![^\W\d_])"
        # "$50", "USD 1,200": the currency stands before the number's first digit.
        pre = "|".join(rf"(?<={re.escape(c)}[0-9])|(?<={re.escape(c)}\s[0-9])" for c in vocab.currencies_before)
        # Quick tests that let most numbers (phones, codes, counts) fail at once: a currency
        # sign or code right before, or how a scale, currency or range dash begins after.
        last_of_pre = char_class(c[-1] for c in vocab.currencies_before)
        can_follow = prefix_pattern(list(vocab.scales) + list(vocab.currencies_after))
        guard = rf"(?:(?<={last_of_pre}[0-9])|(?<={last_of_pre}\s[0-9])|(?=[0-9.,]*+(?:\s*[-–]|\s*{can_follow})))"
        # Without a scale word or a currency a number is no money: the regex says so itself
        # (the conditionals at the end), so bare numbers never reach Python code.
        self._pattern = re.compile(
            DIGIT_START + guard + "(?:"
            rf"(?:{pre or '(?!)'})(?P<pre>{NUMBER_REST}(?:{scaled})?){NUMBER_END}(?![/:-][0-9])"
            rf"|(?P<first>{NUMBER_REST})\s*[-–]\s*(?P<second>{NUMBER}(?P<second_scaled>{scaled})?){NUMBER_END}"
            rf"(?:\s*(?P<second_cur>{cur_after}))?(?(second_scaled)|(?(second_cur)|(?!)))"
            rf"|(?P<amount>{NUMBER_REST}(?P<scaled>{scaled})?){NUMBER_END}"
            rf"(?:\s*(?P<cur>{cur_after}))?(?(scaled)|(?(cur)|(?!)))"
            ")",
            re.IGNORECASE,
        )
        self._pre_currency = re.compile(rf"(?P<cur>{phrases_pattern(vocab.currencies_before)})\s?$", re.IGNORECASE)
        self._parts = re.compile(rf"(?P<num>{NUMBER})|(?P<scale>{phrases_pattern(vocab.scales)})|(?P<half>{phrases_pattern([half])})", re.IGNORECASE)
        self._not_money_after = _word_list_after(vocab.not_money_if_followed_by)
        self._k_blockers = WordsBefore(vocab.k_not_money_if_preceded_by, window=40)
        self._currency_blockers = {
            " ".join(word.lower().split()): _word_list_after(followers)
            for word, followers in vocab.currency_not_before.items()
        }

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        spans = []
        for m in self._pattern.finditer(text):
            for start, end, value, code, score in self._read(text, m):
                s, e = doc.to_original(start, end)
                spans.append(Span(s, e, "MONEY", score=score, source="rule",
                                  normalized=f"{format_decimal(value)} {code}", rule=self.name))
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

    def _amount(self, amount_text: str):
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
                return pending, scales, None
            # A tail after a scale is its next digits: "1tr2" = 1.2 triệu, "1tr250" = 1.25.
            digits = amount_text[pending_span[0]:pending_span[1]]
            total += Decimal(digits) * last_scale / (10 ** len(digits))
            tail = pending_span
        return total, scales, tail


def _word_list_after(words) -> re.Pattern:
    """Matches (at a position) optional whitespace then one of the words, as a whole word."""
    if not words:
        return re.compile(r"(?!)")
    return re.compile(rf"\s*(?:{phrases_pattern(words)})(?!\w)", re.IGNORECASE)


@register_rule("money")
def build_money(options: dict | None = None) -> MoneyExtractor:
    opts = from_dict(RuleOptions, options or {}, prefix="money")
    vocab = load_vocab(MoneyVocab, "money", opts.conf_path)
    return MoneyExtractor(vocab)
