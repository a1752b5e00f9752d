"""Gazetteer: names from term lists (banks, carriers, places, ...) with one Aho-Corasick pass.

All lists go into one automaton, built once per worker, keyed by each variant lower-cased
and, for lists that ignore diacritics, also folded ("ha noi"); a record is scanned once, on
``doc.norm`` lower-cased (C-fast, unlike computing ``doc.folded``, and shared with the
temporal rule). Each hit
is then checked against its list's rules on ``doc.norm`` (case, diacritics, context) and
overlapping hits are resolved longest first. Lists and rules: ``conf/rules/gazetteer.yaml``
and ``conf/gazetteers/*.txt``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import ahocorasick

from ..config import ConfigError
from ..labels import LABELS
from ..spans import Span
from ..textnorm import Doc, fold, make_doc
from .base import register_rule
from .common import load_rule_settings

NAME = "gazetteer"
# What \w matches besides letters and digits, and the combining marks: a hit next to one of
# these is inside a word.
_WORD_EXTRA = frozenset("_" + "".join(chr(c) for c in range(0x300, 0x370)) + "".join(
    chr(c) for lo, hi in ((0x1DC0, 0x1E00), (0x20D0, 0x2100), (0xFE20, 0xFE30)) for c in range(lo, hi)))
_NEXT_WORD = re.compile(r"\s*([^\W\d_]+(?:-[^\W\d_]+)*)")
# The word right after a hit, separated from it by one space.
_WORD_AFTER = re.compile(r" ([^\W_]+)")
_ADMIN_WORDS = ("tỉnh", "thành phố", "tp.", "tp", "quận", "huyện", "thị xã", "thủ đô")
_ENGLISH_FUNCTION_WORDS = frozenset({
    "In", "To", "From", "At", "Of", "For", "The", "And", "Across", "Visit", "About", "IN", "TO",
})


@dataclass
class TermList:
    file: str
    label: str = field(metadata={"choices": list(LABELS)})
    case_sensitive: bool = False
    ignore_diacritics: bool = True
    reject_after_number: bool = False
    score: float = field(default=0.9, metadata={"check": lambda v: 0 <= v <= 1, "help": "0..1"})


@dataclass
class GazetteerSettings:
    lists: list[TermList] = field(default_factory=list)
    directory: str | None = None  # folder of the list files; None = packaged conf/gazetteers
    needs_capitals: list[str] = field(default_factory=list)
    not_followed_by: dict[str, list[str]] = field(default_factory=dict)
    person_titles: list[str] = field(default_factory=list)
    org_heads: list[str] = field(default_factory=list)
    not_inside_names: list[str] = field(default_factory=list)
    brand_suffixes: list[str] = field(default_factory=list)


def read_terms(path, key: str) -> list[tuple[str, str]]:
    """(canonical, variant) pairs of a term file: "name" or "canonical<TAB>variant" lines."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read term list {path}: {exc}") from exc
    pairs = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) > 2 or not all(parts):
            raise ConfigError(f"{key}: {path} line {number}: expected 'name' or 'canonical<TAB>variant', got {line!r}")
        pairs.append((parts[0], parts[-1]))
    return pairs


def _is_brand(word: str) -> bool:
    """A company-like word: capitalised, 3+ letters or all-caps, no diacritics, not "In"/"To"."""
    return (word.isascii() and word.isalpha() and word[0].isupper() and (len(word) >= 3 or word.isupper())
            and word not in _ENGLISH_FUNCTION_WORDS)


class _Phrases:
    """Short phrases looked up among the last words before a hit ("bác sĩ", "sở y tế").

    Phrases are kept lower-cased with their diacritics and folded (for records typed without
    any), so "chỉ" (only) is not the title "chị" while "chi" in a no-diacritics record is.
    An optional word may follow a phrase ("CDC tỉnh Nghệ An").
    """

    def __init__(self, phrases, optional_words=()):
        def forms(words):
            return {w.lower() for w in words} | {fold(w) for w in words}

        heads = forms(phrases)
        self.tails = frozenset(heads | {f"{h} {o}" for h in heads for o in forms(optional_words)})
        self.lengths = sorted({len(t.split()) for t in self.tails})
        self.last_words = frozenset(t.split()[-1] for t in self.tails)
        self.max_words = max(self.lengths, default=0)

    def __or__(self, other: "_Phrases") -> "_Phrases":
        both = _Phrases(())
        both.tails = self.tails | other.tails
        both.lengths = sorted(set(self.lengths) | set(other.lengths))
        both.last_words = self.last_words | other.last_words
        both.max_words = max(self.max_words, other.max_words)
        return both

    def ends(self, words: list[str]) -> bool:
        """Do ``words`` (lower-cased, in order) end with one of the phrases?"""
        if not words or words[-1] not in self.last_words:
            return False
        return any(" ".join(words[-k:]) in self.tails for k in self.lengths if k <= len(words))


def _normalise(term: str) -> str:
    return make_doc(term).norm


@dataclass(frozen=True)
class _Entry:
    variant: str  # as written in the list, normalised like Doc.norm
    lower: str
    base: str  # folded: lower-case without diacritics
    canonical: str
    label: str
    options: TermList
    needs_capitals: bool
    stop_next: frozenset  # folded words that make the hit part of a common word
    brand_suffix: bool  # "Việt Nam" after a company name belongs to the company name
    alone: bool  # a one-word name that is also a given name: no capitalised neighbour allowed


class GazetteerExtractor:
    name = NAME

    def __init__(self, settings: GazetteerSettings):
        if not settings.lists:
            raise ConfigError(f"rules.options.{NAME}.lists: at least one term list is needed")
        self.settings = settings
        folder = Path(settings.directory) if settings.directory else files("nerlake.conf") / "gazetteers"
        needs_capitals = {fold(_normalise(t)) for t in settings.needs_capitals}
        stop_next = {fold(_normalise(t)): frozenset(fold(w) for w in words)
                     for t, words in settings.not_followed_by.items()}
        # A LOC right after a person title is a person's name ("anh Hải Dương"), after an
        # organisation head the seat of the organisation ("Sở Y tế Hà Nội"); in "CDC tỉnh
        # Nghệ An" an administrative word sits between the head and the name.
        self._not_after_loc = _Phrases(settings.person_titles) | _Phrases(settings.org_heads, _ADMIN_WORDS)
        self._words_before = max(self._not_after_loc.max_words, 1)
        self._spellings: dict[tuple[int, str], bool] = {}  # (id of entry, surface) -> spelling ok
        brand_suffixes = {fold(_normalise(t)) for t in settings.brand_suffixes}
        not_inside_names = {fold(_normalise(t)) for t in settings.not_inside_names}

        by_key: dict[str, list[_Entry]] = {}
        seen = set()
        for i, term_list in enumerate(settings.lists):
            for canonical, variant in read_terms(folder / term_list.file, f"rules.options.{NAME}.lists[{i}].file"):
                variant = _normalise(variant)
                folded = fold(variant)
                if (folded, variant, canonical, term_list.label) in seen:
                    continue
                seen.add((folded, variant, canonical, term_list.label))
                entry = _Entry(
                    variant=variant, lower=variant.lower(), base=folded, canonical=canonical,
                    label=term_list.label, options=term_list, needs_capitals=folded in needs_capitals,
                    stop_next=stop_next.get(folded, frozenset()), brand_suffix=folded in brand_suffixes,
                    alone=folded in not_inside_names,
                )
                keys = {folded} if term_list.ignore_diacritics else set()
                if len(entry.lower) == len(variant):  # lower() keeps offsets ("İ" would not)
                    keys.add(entry.lower)
                for automaton_key in keys:
                    by_key.setdefault(automaton_key, []).append(entry)
        self.labels = tuple(sorted({t.label for t in settings.lists}, key=list(LABELS).index))
        self._automaton = ahocorasick.Automaton()
        for key, entries in by_key.items():
            self._automaton.add_word(key, (len(key), tuple(entries)))
        self._automaton.make_automaton()

    def extract(self, doc: Doc) -> list[Span]:
        norm = doc.norm
        haystack = doc.lower  # the temporal rule searches it too: made once per record
        hits = []
        size = len(norm)
        for last, (length, entries) in self._automaton.iter(haystack):
            end = last + 1
            start = end - length
            if start and ((c := norm[start - 1]).isalnum() or c in _WORD_EXTRA):
                continue  # not a whole word
            if end < size and ((c := norm[end]).isalnum() or c in _WORD_EXTRA):
                continue
            surface = norm[start:end]
            for entry in entries:
                if self._accepts(entry, norm, surface, start, end):
                    hits.append((start, end, entry))
                    break
        if not hits:
            return []
        if len(hits) > 1:
            hits = _longest_first(hits)
        return [Span(*doc.to_original(start, end), entry.label, entry.options.score, "rule", entry.canonical, NAME)
                for start, end, entry in hits]

    def _accepts(self, entry: _Entry, norm: str, surface: str, start: int, end: int) -> bool:
        if surface != entry.variant:
            key = (id(entry), surface)
            spelling_ok = self._spellings.get(key)
            if spelling_ok is None:
                spelling_ok = self._spelling_matches(entry, surface)
                if len(self._spellings) < 100_000:  # bounded: surfaces are few, but input is untrusted
                    self._spellings[key] = spelling_ok
            if not spelling_ok:
                return False
        if entry.options.reject_after_number and norm[max(0, start - 4):start].rstrip()[-1:].isdigit():
            return False
        if entry.stop_next:
            nxt = _NEXT_WORD.match(norm, end)
            if nxt and fold(nxt.group(1)) in entry.stop_next:
                return False
        if not (entry.alone or entry.label == "LOC"):
            return True
        # The words right before the hit, when it follows them after a space.
        words = norm[max(0, start - 8 * self._words_before):start].split() if start and norm[start - 1].isspace() else ()
        last_word = words[-1] if words else ""
        if entry.alone:
            after = _WORD_AFTER.match(norm, end)
            if last_word[:1].isupper() or (after and after.group(1)[0].isupper()):
                return False
        if entry.label == "LOC" and last_word:
            if last_word.lower() in self._not_after_loc.last_words and self._not_after_loc.ends(
                    [w.lower() for w in words[-self._words_before:]]):
                return False
            if entry.brand_suffix and _is_brand(last_word):
                return False
        return True

    @staticmethod
    def _spelling_matches(entry: _Entry, surface: str) -> bool:
        """Case and diacritics rules of the entry's list (the lower-cased or folded forms already match)."""
        opts = entry.options
        if surface == entry.variant:
            return True
        # Chat is often typed all lower-case; a term that is also a common word must keep its capitals.
        lower_ok = not opts.case_sensitive and not entry.needs_capitals and surface.islower()
        for s_char, v_char, v_lower, v_base in zip(surface, entry.variant, entry.lower, entry.base):
            if s_char == v_char:
                continue
            if opts.case_sensitive:
                if s_char.isupper() != v_char.isupper():
                    return False
            elif v_char.isupper() and not s_char.isupper() and not lower_ok:
                return False
            s_lower = s_char.lower()
            if s_lower != v_lower and not (opts.ignore_diacritics and s_lower == v_base):
                return False
        return True



def _longest_first(hits: list[tuple]) -> list[tuple]:
    """Non-overlapping hits, the longer one winning an overlap (then the earlier), in text order."""
    previous_end = -1
    for start, end, _ in hits:  # the usual case: in text order already, no overlap
        if start < previous_end:
            break
        previous_end = end
    else:
        return hits
    outermost = _outermost(hits)
    if outermost is not None:
        return outermost
    hits.sort(key=lambda h: (h[0] - h[1], h[0]))
    kept = []
    for hit in hits:
        start, end = hit[0], hit[1]
        if all(end <= k[0] or k[1] <= start for k in kept):
            kept.append(hit)
    kept.sort(key=lambda h: h[0])
    return kept


def _outermost(hits: list[tuple]) -> list[tuple] | None:
    """The hits that no other hit contains, in text order, when every overlap is a nesting
    ("Đồng Nai" inside "tỉnh Đồng Nai", the usual overlap): then they are exactly what
    longest-first resolution keeps, found in one pass. None when two hits overlap partly,
    or the hits are not in the order of their ends (the automaton's order)."""
    kept: list[tuple] = []
    last_end = -1
    for hit in hits:
        start, end = hit[0], hit[1]
        if end < last_end:
            return None
        last_end = end
        while kept and start < kept[-1][1]:
            if start <= kept[-1][0]:
                kept.pop()  # the hit contains it (no kept hit ends after this one)
            elif end == kept[-1][1]:
                break  # contained in it: dropped
            else:
                return None
        else:
            kept.append(hit)
    return kept


@register_rule(NAME)
def build_gazetteer(options: dict | None = None) -> GazetteerExtractor:
    return GazetteerExtractor(load_rule_settings(GazetteerSettings, NAME, options))
