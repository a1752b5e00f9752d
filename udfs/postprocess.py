"""Span repair for the hybrid merge: pure functions from a span's offsets to new offsets.

Every function here takes the text the offsets index, a span's offsets (and label) and the
lexical tables (:class:`Lexicon`, loaded from ``conf/merge_lexicon.yaml``) and returns new
offsets; ``udfs/merge.py`` turns those into spans and records which step changed what.
The text is expected NFC (the merge normalises before calling), so a Vietnamese syllable is
a run of letters without combining marks.

Label groups (``conf/label_groups.yaml``) live here too: training collapses fine labels to
their group with :func:`collapse_labels`, the merge restores them with :class:`FineLabels`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .config import ConfigError, from_dict
from .labels import LABELS
from .spans import Span
from .textnorm import fold, lower_same_length, modern_tone_marks

_HSPACE = " \t\u00a0"  # gaps a name or an address may span: never a line break
_MAX_GAP = 3  # longest run of spaces between two syllables of one name
_WINDOW = 80  # characters looked at after a span for an address tail
_MAX_TAILS = 4  # an address gains at most ward, district, city, country
_MAX_UNIT_NAME = 4  # syllables in an administrative unit's name ("Thừa Thiên Huế")
_BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_CLOSERS = {v: k for k, v in _BRACKETS.items()}
_NUMBER_RE = re.compile(r"\d{1,3}[A-Z]?(?!\w)")
_SPACES_RE = re.compile(r"[^\S\n]+")
_SENTENCE_OPENERS = ".!?:;…\n\"'“‘(-–—•*"  # what may come right before a sentence's first word


# ------------------------------------------------------------------------ characters

def is_word_char(c: str) -> bool:
    """Letters, digits and combining marks: what a syllable or a number is made of."""
    return c.isalnum() or (not c.isascii() and unicodedata.category(c)[0] == "M")


def _fold_table() -> dict[int, str]:
    # Latin-1, Latin Extended-A/B and the Vietnamese block: what Vietnamese text is made of.
    chars = [chr(i) for i in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00))]
    return {ord(c): fold(c) for c in chars if len(fold(c)) == 1 and fold(c) != c}


_FOLD = _fold_table()


def fold_fast(text: str) -> str:
    """``textnorm.fold`` for Vietnamese text at C speed (str.translate): lower-case without
    diacritics, one character for one. Other scripts are only lower-cased."""
    return lower_same_length(text).translate(_FOLD)


def _key(phrase: str) -> str:
    """How a lexicon entry is compared: NFC, modern tone marks, lower-case, single spaces."""
    return " ".join(modern_tone_marks(unicodedata.normalize("NFC", phrase)).lower().split())


def _phrase_pattern(phrases) -> re.Pattern | None:
    """Whole-word alternation of ``phrases`` (already keyed), longest first so the longest
    entry wins; inner spaces match any horizontal whitespace."""
    alts = []
    for phrase in sorted(set(phrases), key=lambda p: (-len(p), p)):
        alt = _SPACES_RE.pattern.join(re.escape(word) for word in phrase.split(" "))
        if is_word_char(phrase[-1]):
            alt += r"(?!\w)"
        alts.append(alt)
    if not alts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + ")")


def _phrase_key(matched: str) -> str:
    return " ".join(matched.split())


# ------------------------------------------------------------------------ lexicon tables

@dataclass
class BoundaryTables:
    trim_chars: str = ""
    keep_dot_after: list[str] = field(default_factory=list)


@dataclass
class NameTables:
    max_syllables: dict[str, int] = field(default_factory=dict)
    default_max_syllables: int = 6
    titles: list[str] = field(default_factory=list)
    title_labels: list[str] = field(default_factory=list)
    surnames: list[str] = field(default_factory=list)
    stop_words: list[str] = field(default_factory=list)
    stop_words_by_label: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class AddressUnit:
    level: str = ""
    keywords: list[str] = field(default_factory=list)
    number_only: list[str] = field(default_factory=list)


@dataclass
class AddressTables:
    separators: list[str] = field(default_factory=list)
    units: list[AddressUnit] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)


@dataclass
class ListTables:
    conjunctions: list[str] = field(default_factory=list)
    dimension_labels: list[str] = field(default_factory=list)
    numeric_labels: list[str] = field(default_factory=list)
    name_labels: list[str] = field(default_factory=list)
    comma_continuations: list[str] = field(default_factory=list)
    item_prefixes: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class LexiconTables:
    """The schema of ``conf/merge_lexicon.yaml``; every section is required."""

    boundaries: BoundaryTables
    names: NameTables
    addresses: AddressTables
    lists: ListTables


@dataclass(frozen=True)
class Tail:
    """An address tail found after a span."""

    end: int
    level: int
    keyword: bool  # named with a unit keyword ("quận 1") rather than a bare place ("Hà Nội")
    after_space: bool  # separated from the span by whitespace only, no comma or dash


class Lexicon:
    """The lexical tables compiled for matching. Build with :func:`load_lexicon`."""

    def __init__(self, tables: LexiconTables):
        b, n, a, lists = tables.boundaries, tables.names, tables.addresses, tables.lists
        self.trim_chars = frozenset(b.trim_chars)
        self.keep_dot_after = frozenset(_key(w) for w in b.keep_dot_after)

        self.max_syllables = dict(n.max_syllables)
        self.default_max_syllables = n.default_max_syllables
        self._titles = [_key(w) for w in n.titles]
        self._title_labels = frozenset(n.title_labels)
        self.surnames = frozenset(fold(_key(w)) for w in n.surnames)
        self._stop_words = [_key(w) for w in n.stop_words]
        self._stop_by_label = {label: [_key(w) for w in words] for label, words in n.stop_words_by_label.items()}
        self._name_stop_patterns: dict[tuple[str, bool], re.Pattern | None] = {}

        for sep in a.separators:
            if len(sep) != 1:
                raise ConfigError(f"merge_lexicon.addresses.separators: {sep!r} is not one character")
        self.separators = frozenset(a.separators)
        self.unit_levels = [u.level for u in a.units]
        self.city_level = len(a.units) - 1
        self.country_level = len(a.units)
        self._unit_keywords: dict[str, tuple[int, bool]] = {}  # key -> (level, number only)
        alts = []
        for level, unit in enumerate(a.units):
            for word in unit.keywords:
                self._unit_keywords[_key(word)] = (level, False)
            for word in unit.number_only:
                self._unit_keywords[_key(word)] = (level, True)
        for word, (_, number_only) in sorted(self._unit_keywords.items(), key=lambda kv: (-len(kv[0]), kv[0])):
            alt = _SPACES_RE.pattern.join(re.escape(w) for w in word.split(" "))
            if number_only:
                alt += r"(?=\s?\d)"
            elif is_word_char(word[-1]):
                alt += r"(?!\w)"
            alts.append(alt)
        self._unit_re = re.compile(r"(?<!\w)(?:" + "|".join(alts) + ")") if alts else None
        # place names compare diacritic-insensitively: "Ha Noi" is "Hà Nội"
        self._place_levels = {fold(_key(w)): self.city_level for w in a.cities}
        self._place_levels.update({fold(_key(w)): self.country_level for w in a.countries})
        self._place_re = _phrase_pattern(self._place_levels)

        self.conjunctions = [_key(w) for w in lists.conjunctions]
        self.dimension_labels = frozenset(lists.dimension_labels)
        self.numeric_labels = frozenset(lists.numeric_labels)
        self.name_labels = frozenset(lists.name_labels)
        self._continuation_re = _phrase_pattern(_key(w) for w in lists.comma_continuations)
        self._prefix_res = {label: _phrase_pattern(_key(w) for w in words)
                            for label, words in lists.item_prefixes.items()}
        # a comma between two digits is a decimal comma ("1,2 triệu"), not a list separator
        self._comma_re = re.compile(r"[^\S\n]*(?:[;\n]|(?<!\d),|,(?!\d))[^\S\n]*")
        conj = "|".join(re.escape(w) for w in sorted(self.conjunctions, key=len, reverse=True))
        self._conj_re = re.compile(r"[^\S\n]*(?<!\S)(?:" + conj + r")(?!\S)[^\S\n]*") if conj else None
        self._dimension_re = re.compile(r"[^\S\n]*(?:[*×]|(?<=[\d\s])[xX](?=[\s\d]))[^\S\n]*")

    # -- names

    def name_stop_pattern(self, label: str, leftward: bool) -> re.Pattern | None:
        """Words never absorbed into a ``label`` name; titles too on the left of title_labels."""
        key = (label, leftward)
        if key not in self._name_stop_patterns:
            words = self._stop_words + self._stop_by_label.get(label, [])
            if leftward and label in self._title_labels:
                words = words + self._titles
            self._name_stop_patterns[key] = _phrase_pattern(words)
        return self._name_stop_patterns[key]

    def max_syllables_for(self, label: str) -> int:
        return self.max_syllables.get(label, self.default_max_syllables)

    # -- addresses

    def _place_at(self, text: str, folded: str, i: int) -> tuple[int, int] | None:
        """(end, level) of a listed place name starting at ``i``, unless another capitalised
        syllable continues it ("Điện Biên Phủ" is a street, not the province Điện Biên)."""
        if self._place_re is None:
            return None
        m = self._place_re.match(folded, i)
        if not m:
            return None
        j = m.end()
        k = j
        while k < len(text) and text[k] in _HSPACE:
            k += 1
        if k > j and k < len(text) and text[k].isupper():
            return None
        return j, self._place_levels[_phrase_key(m.group())]

    def _unit_name_end(self, text: str, low: str, folded: str, i: int, number_only: bool) -> int | None:
        """End of an administrative unit's name starting at or after ``i`` (after its keyword):
        a number ("1", "12A"), a listed place, or up to four capitalised syllables."""
        j = i
        while j < len(text) and j - i < 2 and text[j] in _HSPACE:
            j += 1
        m = _NUMBER_RE.match(text, j)
        if m:
            return m.end()
        if number_only:
            return None
        place = self._place_at(text, folded, j)
        if place:
            return place[0]
        end, k = None, j
        for _ in range(_MAX_UNIT_NAME):
            if k >= len(text) or not text[k].isupper():
                break
            if end is not None and self._unit_re is not None and self._unit_re.match(low, k):
                break  # the next unit's keyword ("phường Bến Nghé Quận 1")
            e = k
            while e < len(text) and is_word_char(text[e]):
                e += 1
            end = e
            k = e
            while k < len(text) and k - e < 2 and text[k] in _HSPACE:
                k += 1
            if k == e:
                break
        return end

    def unit_at(self, text: str, pos: int) -> tuple[int, int, bool] | None:
        """(end, level, named by keyword) of an administrative unit or place starting at ``pos``."""
        window = text[pos:pos + _WINDOW]
        if not window or not is_word_char(window[0]):
            return None
        low = lower_same_length(window)
        folded = low.translate(_FOLD)
        m = self._unit_re.match(low) if self._unit_re is not None else None
        if m:
            level, number_only = self._unit_keywords[_phrase_key(m.group())]
            end = self._unit_name_end(window, low, folded, m.end(), number_only)
            if end is not None:
                return pos + end, level, True
        place = self._place_at(window, folded, 0)
        if place:
            return pos + place[0], place[1], False
        return None

    def span_level(self, text: str, start: int, end: int) -> int:
        """Largest administrative level named inside ``text[start:end]``; -1 for none."""
        seg = text[start:end]
        low = lower_same_length(seg)
        folded = low.translate(_FOLD)
        level = -1
        if self._unit_re is not None:
            for m in self._unit_re.finditer(low):
                unit_level, number_only = self._unit_keywords[_phrase_key(m.group())]
                if unit_level > level and self._unit_name_end(seg, low, folded, m.end(), number_only) is not None:
                    level = unit_level
        if self._place_re is not None:
            for m in self._place_re.finditer(folded):
                place = self._place_at(seg, folded, m.start())
                if place and place[1] > level:
                    level = place[1]
        return level

    def tail_after(self, text: str, pos: int) -> Tail | None:
        """The address tail right after ``pos``: a separator (or whitespace) then a unit."""
        i = pos
        while i < len(text) and text[i] in _HSPACE:
            i += 1
        after_space = True
        if i < len(text) and text[i] in self.separators:
            after_space = False
            i += 1
            while i < len(text) and text[i] in _HSPACE:
                i += 1
        elif i == pos:
            return None  # glued to the span: not a tail
        unit = self.unit_at(text, i)
        if unit is None:
            return None
        return Tail(end=unit[0], level=unit[1], keyword=unit[2], after_space=after_space)

    # -- lists

    def list_separators(self, text: str, start: int, end: int, label: str) -> list[tuple[int, int, str]]:
        """(start, end, kind) of the separators inside the span, kind "comma", "conj" or "dim";
        separators only whitespace apart are one ("A, và B")."""
        passes = [(self._comma_re, "comma"), (self._conj_re, "conj")]
        if label in self.dimension_labels:
            passes.append((self._dimension_re, "dim"))
        found = sorted((m.start(), m.end(), kind) for pattern, kind in passes if pattern is not None
                       for m in pattern.finditer(text, start, end) if m.start() > start and m.end() < end)
        merged: list[tuple[int, int, str]] = []
        for s, e, kind in found:
            if merged and s <= merged[-1][1]:
                ps, pe, pkind = merged[-1]
                merged[-1] = (ps, max(pe, e), "conj" if "conj" in (kind, pkind) else pkind)
            else:
                merged.append((s, e, kind))
        return merged

    def continues_name(self, text: str, start: int) -> bool:
        """Whether what starts at ``start`` after a comma is part of the name ("Ltd", "chi nhánh")."""
        if self._continuation_re is None:
            return False
        return self._continuation_re.match(lower_same_length(text[start:start + 20])) is not None

    def starts_with_prefix(self, text: str, start: int, label: str) -> bool:
        pattern = self._prefix_res.get(label)
        return pattern is not None and pattern.match(lower_same_length(text[start:start + 30])) is not None


def _read_yaml(path: str | None, packaged: str, key: str):
    try:
        if path is None:
            raw = (resources.files("nerlake.conf") / packaged).read_text(encoding="utf-8")
            where = f"packaged conf/{packaged}"
        else:
            raw = Path(path).read_text(encoding="utf-8")
            where = path
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path or packaged}: {exc}") from exc
    try:
        return yaml.safe_load(raw), where
    except yaml.YAMLError as exc:
        raise ConfigError(f"{key}: {where} is not valid YAML: {exc}") from exc


@lru_cache(maxsize=8)
def load_lexicon(path: str | None = None) -> Lexicon:
    """The compiled lexical tables of ``path`` (None: the packaged ``conf/merge_lexicon.yaml``).
    Cached per path: a worker loads it once."""
    data, where = _read_yaml(path, "merge_lexicon.yaml", "lexicon_path")
    if not isinstance(data, dict):
        raise ConfigError(f"lexicon_path: {where} must be a mapping with sections boundaries, names, addresses, lists")
    missing = [s for s in ("boundaries", "names", "addresses", "lists") if s not in data]
    if missing:
        raise ConfigError(f"lexicon_path: {where} lacks section {missing[0]!r}")
    return Lexicon(from_dict(LexiconTables, data, prefix="merge_lexicon"))


# ------------------------------------------------------------------------ boundaries

def _matching_closer(text: str, start: int, end: int) -> int:
    """Index of the bracket closing the one at ``start``, within ``end``; -1 when none."""
    opener, closer, depth = text[start], _BRACKETS[text[start]], 0
    for i in range(start, end):
        if text[i] == opener:
            depth += 1
        elif text[i] == closer:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _matching_opener(text: str, start: int, end: int) -> int:
    """Index of the bracket opening the one at ``end - 1``, within ``start``; -1 when none."""
    closer, opener, depth = text[end - 1], _CLOSERS[text[end - 1]], 0
    for i in range(end - 1, start - 1, -1):
        if text[i] == closer:
            depth += 1
        elif text[i] == opener:
            depth -= 1
            if depth == 0:
                return i
    return -1


def trim_span(text: str, start: int, end: int, lex: Lexicon) -> tuple[int, int] | None:
    """Strip whitespace and punctuation from both ends; None when nothing is left.

    Kept on purpose: a bracket whose partner is inside the span ("ABC (Việt Nam)", "(84) 28
    3822"; a pair around the whole span goes: "(VCB)" -> "VCB"), a "-" in front of a digit
    ("-5 độ"), a "." after a listed abbreviation ("Co., Ltd.").
    """
    trim = lex.trim_chars
    s, e = start, end
    while True:  # until stable: trimming one end can expose a wrapping pair
        before = (s, e)
        while s < e:
            c = text[s]
            if c.isspace():
                s += 1
            elif c in _BRACKETS and c in trim:
                closer = _matching_closer(text, s, e)
                if closer == e - 1:
                    s, e = s + 1, e - 1
                elif closer == -1:
                    s += 1
                else:
                    break
            elif c in trim and not (c == "-" and s + 1 < e and text[s + 1].isdigit()):
                s += 1
            else:
                break
        while e > s:
            c = text[e - 1]
            if c.isspace():
                e -= 1
            elif c in _CLOSERS and c in trim:
                if _matching_opener(text, s, e) != -1:
                    break
                e -= 1
            elif c == "." and _last_word(text, s, e - 1) in lex.keep_dot_after:
                break
            elif c in trim:
                e -= 1
            else:
                break
        if (s, e) == before or s >= e:
            break
    return (s, e) if s < e else None


def _last_word(text: str, start: int, end: int) -> str:
    i = end
    while i > start and is_word_char(text[i - 1]):
        i -= 1
    return text[i:end].lower()


def repair_boundaries(text: str, start: int, end: int, lex: Lexicon) -> tuple[int, int] | None:
    """Extend a span that cuts a word to the word's ends (never across whitespace or
    punctuation: only word characters are added), then trim. None when nothing is left."""
    s, e = start, end
    while s > 0 and is_word_char(text[s - 1]) and is_word_char(text[s]):
        s -= 1
    while e < len(text) and is_word_char(text[e]) and is_word_char(text[e - 1]):
        e += 1
    return trim_span(text, s, e, lex)


# ------------------------------------------------------------------------ names

def _syllable_after(text: str, pos: int) -> tuple[int, int] | None:
    i = pos
    while i < len(text) and i - pos < _MAX_GAP and text[i] in _HSPACE:
        i += 1
    if i == pos:
        return None
    j = i
    while j < len(text) and is_word_char(text[j]):
        j += 1
    return (i, j) if j > i else None


def _syllable_before(text: str, pos: int) -> tuple[int, int] | None:
    j = pos
    while j > 0 and pos - j < _MAX_GAP and text[j - 1] in _HSPACE:
        j -= 1
    if j == pos:
        return None
    i = j
    while i > 0 and is_word_char(text[i - 1]):
        i -= 1
    return (i, j) if i < j else None


def _capitalised(text: str, start: int, end: int, digits_ok: bool) -> bool:
    if not text[start].isupper():
        return False
    return all(is_word_char(c) and (digits_ok or not c.isdigit()) for c in text[start:end])


def _opens_sentence(text: str, start: int) -> bool:
    i = start
    while i > 0 and text[i - 1] in _HSPACE:
        i -= 1
    return i == 0 or text[i - 1] in _SENTENCE_OPENERS


def _capitalised_run(text: str, pos: int, forward: bool, room: int, digits_ok: bool,
                     surnames: frozenset | None = None) -> list[tuple[int, int]]:
    """Capitalised syllables next to ``pos``, nearest first. Going left, a syllable that opens
    a sentence is taken only when it is in ``surnames`` (None: never)."""
    run = []
    while len(run) < room:
        syllable = _syllable_after(text, pos) if forward else _syllable_before(text, pos)
        if syllable is None or not _capitalised(text, *syllable, digits_ok):
            break
        if not forward and _opens_sentence(text, syllable[0]):
            if surnames is not None and fold_fast(text[syllable[0]:syllable[1]]) in surnames:
                run.append(syllable)
            break
        run.append(syllable)
        pos = syllable[1] if forward else syllable[0]
    return run


def _stop_intervals(text: str, lo: int, hi: int, pattern: re.Pattern | None) -> list[tuple[int, int]]:
    if pattern is None:
        return []
    base = max(0, lo - 1)  # one character more: the whole-word lookbehind needs it
    low = lower_same_length(text[base:hi])
    return [(m.start() + base, m.end() + base) for m in pattern.finditer(low, lo - base)]


def _cut_run(run, stops, blocked) -> list[tuple[int, int]]:
    """The run up to (not including) the first syllable that touches a stop word or another span."""
    for n, (s, e) in enumerate(run):
        if any(a < e and s < b for a, b in stops) or any(a < e and s < b for a, b in blocked):
            return run[:n]
    return run


def extend_name(text: str, start: int, end: int, label: str, lex: Lexicon,
                blocked: list[tuple[int, int]] = ()) -> tuple[int, int]:
    """Extend a name over the capitalised syllables that continue it: "Phạm" + " Minh Chính".

    A syllable is added when it
    - starts upper-case and is made of letters (ORG and other labels: digits too, "F88");
    - is separated from the span by spaces only: punctuation or a line break (a sentence
      boundary) stops the extension;
    - on the left, does not open a sentence ("Gặp Phạm": "Gặp" is capitalised only for
      that), unless it is a surname in front of a PER ("Phạm Minh Chính phát biểu");
    - is not a stop word: function words capitalised at a sentence start ("Tại", "Hôm"),
      the label's own list ("Công ty", "quận" for PER; "Chi nhánh" for ORG) and, on the left
      of the lexicon's title_labels (PER, ORG), titles ("Ông", "Bà", "Bác sĩ");
    - does not overlap ``blocked`` (spans of other labels).
    The name never grows past the label's ``max_syllables``.
    """
    room = lex.max_syllables_for(label) - len(text[start:end].split())
    if room <= 0:
        return start, end
    digits_ok = label not in ("PER", "LOC")
    right = _capitalised_run(text, end, True, room, digits_ok)
    left = _capitalised_run(text, start, False, room, digits_ok, lex.surnames if label == "PER" else None)
    if not right and not left:
        return start, end
    # stop phrases may reach a little past the run on either side ("Chi nhánh", "Thủ tướng")
    lo = max(0, (left[-1][0] if left else start) - 20)
    hi = min(len(text), (right[-1][1] if right else end) + 20)
    if right:
        right = _cut_run(right, _stop_intervals(text, lo, hi, lex.name_stop_pattern(label, False)), blocked)
    if left:
        left = _cut_run(left, _stop_intervals(text, lo, hi, lex.name_stop_pattern(label, True)), blocked)
    # both sides together must still fit: keep the syllables nearest to the span
    while len(left) + len(right) > room:
        (left if len(left) > len(right) else right).pop()
    return (left[-1][0] if left else start), (right[-1][1] if right else end)


# ------------------------------------------------------------------------ addresses

def extend_address(text: str, start: int, end: int, lex: Lexicon, full_address: bool) -> tuple[int, int]:
    """Extend an address or place over the administrative tail that follows it:
    "tòa nhà Avalon" + ", quận 1" + ", TP. HCM".

    A tail is a separator (",", "-", or whitespace before a keyword) and a unit: a keyword with
    a name ("quận 1", "Q.1", "phường Bến Nghé", "TP. HCM", "tp Hồ Chí Minh") or a listed
    province or country on its own (", Hà Nội"). A tail must name a larger unit than any already
    in the span, so a list of places ("Quận 1, Quận 3", "Hà Nội, Đà Nẵng") is never glued.
    A bare place name extends a full address (``full_address``), or a place span that already
    names a recognised unit ("quận Ba Đình" + ", Hà Nội"), never an unknown one ("Nha Trang,
    Đà Nẵng" stays a list).
    """
    level = lex.span_level(text, start, end)
    for _ in range(_MAX_TAILS):
        tail = lex.tail_after(text, end)
        if tail is None or tail.level <= level:
            break
        if not tail.keyword and (tail.after_space or (not full_address and level < 0)):
            break
        end, level = tail.end, tail.level
    return start, end


# ------------------------------------------------------------------------ lists

def _valid_item(text: str, start: int, end: int, label: str, lex: Lexicon) -> bool:
    item = text[start:end]
    if not any(c.isalnum() for c in item):
        return False
    if label in lex.numeric_labels and not any(c.isdigit() for c in item):
        return False
    if label in lex.name_labels and not any(c.isupper() or c.isdigit() for c in item):
        return False
    return True


def _continues_group(text: str, group: list[int], item: tuple[int, int], kind: str, label: str,
                     lex: Lexicon) -> bool:
    """Whether ``item`` belongs to the list item before it rather than starting a new one."""
    start, end = item
    if kind == "comma" and lex.continues_name(text, start):
        return True  # "ABC Co., Ltd"
    if kind == "comma" and label in ("LOC", "ADDRESS"):
        unit = lex.unit_at(text, start)
        if unit is not None and unit[0] == end:
            level = lex.span_level(text, group[0], group[1])
            if unit[1] > level and (unit[2] or level >= 0 or label == "ADDRESS"):
                return True  # "phường Bến Nghé, quận 1": the larger unit the item lies in
    if lex.starts_with_prefix(text, group[0], label) and not lex.starts_with_prefix(text, start, label):
        return True  # "Bộ Văn hóa, Thể thao và Du lịch"
    return False


def split_list(text: str, start: int, end: int, label: str, lex: Lexicon) -> list[tuple[int, int]]:
    """Split a coordinated list into its items: "Agribank, VietinBank, BIDV", "Hà Nội và Đà
    Nẵng", "2,16 m * 1,2 m". Returns ``[(start, end)]`` unchanged when the span is not a list.

    Not split: a decimal comma ("1,2 triệu"); a comma before a name continuation ("Co., Ltd");
    a comma before the larger unit an address or place lies in ("12 Lê Lợi, quận 1"); items
    after one that starts with a type word when they do not ("Bộ Văn hóa, Thể thao và Du lịch").
    The span is left whole when any item would not stand alone (no letter or digit; no digit
    for MONEY/QUANTITY; no capital or digit for PER/ORG/LOC).
    """
    separators = lex.list_separators(text, start, end, label)
    if not separators:
        return [(start, end)]
    pieces, prev, kind = [], start, ""
    for s, e, sep_kind in separators:
        pieces.append((prev, s, kind))
        prev, kind = e, sep_kind
    pieces.append((prev, end, kind))
    groups: list[list[int]] = []
    for s, e, kind in pieces:
        trimmed = trim_span(text, s, e, lex)
        if trimmed is None:
            continue
        if groups and _continues_group(text, groups[-1], trimmed, kind, label, lex):
            groups[-1][1] = trimmed[1]
        else:
            groups.append([trimmed[0], trimmed[1]])
    if len(groups) < 2 or not all(_valid_item(text, s, e, label, lex) for s, e in groups):
        return [(start, end)]
    return [(s, e) for s, e in groups]


# ------------------------------------------------------------------------ label groups

@lru_cache(maxsize=8)
def _label_groups(path: str | None) -> tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]:
    data, where = _read_yaml(path, "label_groups.yaml", "label_groups_path")
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"label_groups_path: {where} must map group labels to fine labels")
    seen: dict[str, str] = {}
    groups = []
    for group, fines in data.items():
        if group not in LABELS:
            raise ConfigError(f"label_groups.{group}: unknown label; labels: {', '.join(LABELS)}")
        if not isinstance(fines, dict) or not fines:
            raise ConfigError(f"label_groups.{group}: expected a mapping of fine labels to keyword lists")
        entries = []
        for fine, keywords in fines.items():
            key = f"label_groups.{group}.{fine}"
            if fine not in LABELS:
                raise ConfigError(f"{key}: unknown label; labels: {', '.join(LABELS)}")
            if fine in seen:
                raise ConfigError(f"{key}: {fine} is already a fine label of {seen[fine]}")
            if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
                raise ConfigError(f"{key}: expected a list of keywords, got {keywords!r}")
            seen[fine] = group
            entries.append((fine, tuple(keywords)))
        groups.append((group, tuple(entries)))
    return tuple(groups)


def load_label_groups(path: str | None = None) -> dict[str, dict[str, list[str]]]:
    """group label -> fine label -> context keywords, from ``path`` (None: the packaged
    ``conf/label_groups.yaml``). A fresh dict each call: callers may change it."""
    return {group: {fine: list(keywords) for fine, keywords in fines} for group, fines in _label_groups(path)}


def collapse_labels(spans_or_bio_labels, groups: dict[str, dict] | None = None) -> list:
    """Replace fine labels by their group, for training: spans (``Span``), plain labels
    ("CHEST") or BIO tags ("B-CHEST" -> "B-BODY_MEASUREMENT"); "O" and other labels pass
    through. Returns a new list of the same kind of items. ``groups``: None loads the packaged map."""
    if groups is None:
        groups = load_label_groups()
    to_group = {fine: group for group, fines in groups.items() for fine in fines}
    out = []
    for item in spans_or_bio_labels:
        if isinstance(item, Span):
            out.append(item.with_(label=to_group[item.label]) if item.label in to_group else item)
        elif isinstance(item, str):
            prefix, label = (item[:2], item[2:]) if len(item) > 2 and item[1] == "-" else ("", item)
            out.append(prefix + to_group.get(label, label))
        else:
            raise TypeError(f"collapse_labels: expected Span or str items, got {type(item).__name__}: {item!r}")
    return out


class FineLabels:
    """Restores fine labels from context keywords, for every group of a label-group map."""

    def __init__(self, groups: dict[str, dict[str, list[str]]]):
        self.group_of = {}  # group or fine label -> group
        self._patterns = {}  # group -> (pattern, keyword -> fine label)
        for group, fines in groups.items():
            self.group_of[group] = group
            by_keyword = {}
            for fine, keywords in fines.items():
                self.group_of[fine] = group
                for keyword in keywords:
                    by_keyword.setdefault(_key(keyword), fine)
            self._patterns[group] = (_phrase_pattern(by_keyword), by_keyword)

    def fine_label(self, text: str, group: str, window_start: int, end: int) -> str | None:
        """The fine label of the keyword nearest to ``end`` in ``text[window_start:end]``."""
        pattern, by_keyword = self._patterns[group]
        if pattern is None:
            return None
        lo = max(0, window_start - 1)  # one character more so that "không" is not "hông"
        best = None
        for m in pattern.finditer(lower_same_length(text[lo:end])):
            if m.start() + lo >= window_start:
                best = m  # matches come left to right: the last one is the nearest
        return by_keyword[_phrase_key(best.group())] if best else None
