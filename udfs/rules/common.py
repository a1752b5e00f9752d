"""What the rule extractors share.

- loading a rule's settings: its YAML (packaged or ``conf_path``) overlaid with the options
  of the rules config, validated into the rule's dataclass (``load_rule_settings``);
- cue words looked for before a position (``CueWords``) and words right before or after
  one (``WordsBefore``, ``words_after``);
- fast regexes from word lists (``phrases_pattern``, ``prefix_pattern``, ``char_class``);
- reading numbers as written in Vietnamese or English (``NUMBER``, ``parse_number``);
- records typed without diacritics (``typed_without_accents``, ``fold_vocab``);
- cheap per-record gates (``record_first_digit``, ``record_has_long_number``), computed
  once per record (``per_record``), since every extractor of a RuleSet asks them.
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from decimal import Decimal
from importlib import resources
from pathlib import Path

import yaml

from ..config import ConfigError, from_dict
from ..textnorm import fold

# Combining marks, for regex character classes: a digit or letter followed by one is not a
# clean token end (NFC leaves e.g. "4" + U+0301 as two characters).
COMBINING_MARKS = "\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"


# --- settings -------------------------------------------------------------------------


def load_rule_settings(cls, name: str, options: dict | None):
    """Settings of rule ``name`` as dataclass ``cls``.

    The rule's YAML (``options["conf_path"]`` if given, else the packaged
    ``conf/rules/<name>.yaml``) is overlaid key by key with the other options, then
    validated; errors name the key as ``rules.options.<name>.<key>``.
    """
    key = f"rules.options.{name}"
    options = dict(options or {})
    conf_path = options.pop("conf_path", None)
    data, where = _read_rule_yaml(name, conf_path, key)
    data.update(options)
    missing = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{key}: missing key(s) {', '.join(missing)} in {where}")
    return from_dict(cls, data, prefix=key)


def _read_rule_yaml(name: str, conf_path, key: str) -> tuple[dict, str]:
    if conf_path is None:
        source = resources.files("nerlake.conf") / "rules" / f"{name}.yaml"
        where = f"the packaged {name}.yaml"
    elif isinstance(conf_path, (str, Path)):
        source = Path(conf_path)
        where = str(source)
    else:
        raise ConfigError(f"{key}.conf_path: expected a file path, got {conf_path!r}")
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{key}.conf_path: cannot read {source}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{key}: {where} is not valid YAML: {exc}") from exc
    if data is None:
        return {}, where
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: {where} must hold a mapping, got {type(data).__name__}")
    return data, where


# --- per-record gates -----------------------------------------------------------------


def per_record(fact):
    """``fact(doc.norm)`` as a function of the Doc, computed once per record and kept in
    ``doc.facts``: the extractors of a RuleSet all ask the same few facts about a record,
    one after the other or each over a block of records in turn."""
    def ask(doc):
        answer = doc.facts.get(fact)
        if answer is None:  # not asked yet (a fact is never None); no KeyError: raising is slow
            answer = doc.facts[fact] = fact(doc.norm)
        return answer

    ask.__doc__ = fact.__doc__
    ask.__name__ = f"record_{fact.__name__}"
    return ask


_DIGIT = re.compile(r"[0-9]")
# Seven digits or more in one run of digit groups ("0912 345 678", "(028) 3822 1234",
# "079 201 012 345", "SPX512345678"): what every phone number (the shortest, service
# numbers such as "1991 234", have 7 digits), ID number and tracking code contains.
# Between two digits at most four characters of ")(+ .-" (") (+84" is four).
_LONG_NUMBER = re.compile(r"[0-9](?:[ .\-()+]{0,4}[0-9]){6}")


def first_digit(text: str) -> int:
    """Where ``text``'s first ASCII digit is (-1: none). Every number-led rule starts at a
    digit: it has nothing to find in a record without one, and it searches from there
    (lookbehinds still see the text before)."""
    m = _DIGIT.search(text)
    return -1 if m is None else m.start()


def has_long_number(text: str) -> bool:
    """Does ``text`` hold a run of 7+ digits in groups (a possible phone, ID or code)?"""
    return _LONG_NUMBER.search(text) is not None


record_first_digit = per_record(first_digit)
record_has_long_number = per_record(has_long_number)


def digit_led_matches(pattern: re.Pattern, doc):
    """``pattern.finditer(doc.norm)`` for a pattern whose matches start at a digit: nothing
    in a record without one, else searched from the record's first digit."""
    first = record_first_digit(doc)
    return pattern.finditer(doc.norm, first) if first >= 0 else ()


# --- cue words ------------------------------------------------------------------------


class CueWords:
    """Cue words looked for in the ``window`` characters before a position.

    Whole words, compared on folded text (no case, no diacritics): "SĐT", "sdt" and "Sđt"
    are one cue. ``negative`` words are cues against the entity ("mã số thuế" before a
    number that would otherwise be a phone).
    """

    def __init__(self, words, negative=(), window: int = 30):
        self.window = window
        self._positive = {fold(w.strip()) for w in words if w and w.strip()}
        every = self._positive | {fold(w.strip()) for w in negative if w and w.strip()}
        # longest first, so "so tai khoan" wins over "tai khoan" at the same place
        alternatives = "|".join(map(re.escape, sorted(every, key=len, reverse=True)))
        self._pattern = re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])") if every else None

    def nearest(self, text: str, start: int) -> str | None:
        """"positive", "negative" or None: the kind of the last cue before ``start``."""
        if self._pattern is None:
            return None
        last = None
        for last in self._pattern.finditer(fold(text[max(0, start - self.window):start])):
            pass
        if last is None:
            return None
        return "positive" if last.group() in self._positive else "negative"

    def any_before(self, text: str, start: int) -> bool:
        """Is there a cue (of either kind) before ``start``?"""
        if self._pattern is None:
            return False
        return self._pattern.search(fold(text[max(0, start - self.window):start])) is not None


class WordsBefore:
    """Which of some words or phrases ends right before a position (whitespace, and one of
    ``:#.`` as in "q. 7" or "SĐT: 09...", may come between). Case-insensitive.

    Plain string operations on the characters before the position, and most positions are
    settled by one character: cheaper than a regex searched over that window, and this is
    asked several times per candidate.
    """

    _EDGE = "([{\"'“‘-–,;"  # punctuation glued to the left of the word: "(ngày 12/3)"

    def __init__(self, phrases, window: int = 24):
        self._phrases = {" ".join(p.lower().split()) for p in phrases if p and p.strip()}
        self._last_words = {p.rsplit(None, 1)[-1] for p in self._phrases}
        self._longest = max((len(p.split()) for p in self._phrases), default=0)
        # both cases, so that the first test needs no lower()
        self._last_chars = frozenset(c for p in self._phrases for c in (p[-1], p[-1].upper())) | set(":#.")
        self._window = window

    def find(self, text: str, pos: int) -> tuple[int, str] | None:
        """(start, phrase as a key) of the phrase ending before ``pos``, or None."""
        i = pos - 1
        while i >= 0 and text[i].isspace():
            i -= 1
        if i < 0 or text[i] not in self._last_chars:
            return None  # the usual case, settled by looking at one character
        low = max(0, pos - self._window)
        head = text[low:pos].rstrip()
        if head and head[-1] in ":#.":
            head = head[:-1].rstrip()
        token = head.rsplit(None, 1)
        if not token:
            return None
        token = token[-1]
        last = token.lower()
        if last not in self._last_words and last.lstrip(self._EDGE) not in self._last_words:
            return None  # the usual case: settled by one set lookup
        if self._longest == 1:  # one-word phrases: the last word is the phrase, or nothing is
            start = low + len(head) - len(token)
            if last in self._phrases:
                return start, last
            glued = len(token) - len(token.lstrip(self._EDGE))
            return (start + glued, last[glued:]) if glued and last[glued:] in self._phrases else None
        words = head.rsplit(None, self._longest)
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


def words_after(words, unless=()) -> re.Pattern:
    """Matches (at a position) optional whitespace then one of ``words``, as a whole word,
    unless one of the phrases ``unless`` starts there ("năm", unless "năm ngoái")."""
    if not words:
        return re.compile(r"(?!)")
    exception = rf"(?!(?:{phrases_pattern(unless)})(?!\w))" if phrases_pattern(unless) else ""
    return re.compile(rf"\s*{exception}(?:{phrases_pattern(words)})(?!\w)", re.IGNORECASE)


# --- regexes from word lists ----------------------------------------------------------


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


def cased_literal(text: str) -> str:
    """``re.escape(text)`` with every letter spelled in both cases ("us$" -> "[uU][sS]\\$"):
    matches what ``text`` matches under IGNORECASE, also inside a lookbehind (a space stays
    one space)."""
    return "".join(re.escape(c) if c == " " else _char(c, cased=True) for c in text)


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


_LEADING_REPEATED_CLASS = re.compile(r"(\[(?:\\.|[^\]\\])+\])(?:\{([1-9][0-9]*)(?:(,)([0-9]*))?\}|(\+))")


def class_first(regex: str) -> str:
    """``regex`` rewritten, when it starts with a repeated character class ("[0-9]{9}",
    "[A-Z]+"), to start with that class once ("[0-9][0-9]{8}"): the same matches, but the
    regex engine then skips in C to the places where the class matches instead of trying
    the whole pattern at every position (several times faster on text without them)."""
    m = _LEADING_REPEATED_CLASS.match(regex)
    if m is None:
        return regex
    cls, low, comma, high, plus = m.groups()
    if plus:
        rest = "*"
    elif comma is None:
        rest = f"{{{int(low) - 1}}}"
    else:
        rest = f"{{{int(low) - 1},{int(high) - 1 if high else ''}}}"
    return cls + cls + rest + regex[m.end():]


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


# --- numbers --------------------------------------------------------------------------

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


# --- records typed without diacritics -------------------------------------------------

_VIETNAMESE_ACCENTED = re.compile(
    "[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
    "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ]"
)


def typed_without_accents(text: str) -> bool:
    """True for a record with no Vietnamese diacritic at all ("hom qua em chuyen 500k"):
    its words are read with the vocabulary stripped of accents."""
    return text.isascii() or _VIETNAMESE_ACCENTED.search(text) is None


record_typed_without_accents = per_record(typed_without_accents)


class AccentAwareExtractor:
    """A rule read with two grammars built from one vocabulary: as written, and stripped of
    diacritics (``plain``) for records typed entirely without them ("hom qua em chuyen
    500k"); each record is read with the one that fits it."""

    name: str
    labels: tuple[str, ...]

    def __init__(self, accented, plain):
        self._accented = accented
        self._plain = plain

    def extract(self, doc) -> list:
        return (self._plain if record_typed_without_accents(doc) else self._accented).extract(doc)


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


def with_unaccented_spellings(vocab, words):
    """A copy of vocabulary dataclass ``vocab`` in which each of ``words`` is also spelled
    without its diacritics, for records that type only some words without them ("giao tu
    7:00 den 17:00 nhé"). Dictionary keys (same value) and list items are added to."""
    extra = {w: strip_accents(w) for w in words if strip_accents(w) != w}
    if not extra:
        return vocab
    changes = {}
    for f in dataclasses.fields(vocab):
        value = getattr(vocab, f.name)
        if f.name == "also_without_accents":
            continue
        if isinstance(value, dict):
            added = {extra[k]: v for k, v in value.items() if k in extra and extra[k] not in value}
            if added:
                changes[f.name] = {**value, **added}
        elif isinstance(value, list):
            added = [extra[x] for x in value if isinstance(x, str) and x in extra and extra[x] not in value]
            if added:
                changes[f.name] = value + added
    return dataclasses.replace(vocab, **changes)
