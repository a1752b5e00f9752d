"""Augmentation of scarce training data: entity-mention swap and synonym replacement.

Each augmented copy of an example swaps some of its entity mentions for other mentions of
the same label (from the training corpus and/or the project's gazetteers) and replaces
some context words (tokens labelled O) by synonyms from ``conf/augment.yaml``. Copies go
to their own dataset, ``<dataset>_aug``, with ids ``<example_id>#aug<k>``, so training can
use them as a separate phase.

Determinism: the random generator of copy k is seeded from (seed, example_id, k) through
SHA-256, and the mention bank samples from sorted lists, so a Spark partition gives the same
copies whatever the order or partitioning of the data.

The text of a copy is the original text with only the replaced tokens rewritten (the
spacing and punctuation around them are kept). A swapped-in mention is written as in its
source, corpus text or gazetteer line ("TP. HCM"); a synonym, or a mention known only as
tokens, is its tokens joined by a space (nothing in languages written without spaces).

For Spark: build the bank on the driver (``build_mention_bank``, corpus mentions collected
distinct with ``mentions_of`` from the examples of ``cfg.splits``), broadcast it, and call
``augment_examples`` per partition.
"""
from __future__ import annotations

import hashlib
import random
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import yaml

from .config import ConfigError, from_dict
from .examples import NO_SPACE_LANGS, Example, align_tokens, simple_tokenize
from .labels import LABELS
from .textnorm import modern_tone_marks

AUG_SUFFIX = "_aug"
MENTION_SOURCES = ("corpus", "gazetteer", "both")


class InvalidExampleError(ValueError):
    """An example cannot be augmented (invalid BIO, offsets out of order); names the example."""


def _probability(value: float) -> bool:
    return 0.0 <= value <= 1.0


@dataclass
class GazetteerList:
    path: str  # a term file: "name" or "canonical<TAB>variant" lines, "#" comments
    label: str = field(metadata={"choices": list(LABELS)})


@dataclass
class AugmentConfig:
    copies: int = field(default=1, metadata={"check": lambda v: v >= 1, "help": ">= 1"})
    swap_probability: float = field(default=0.8, metadata={"check": _probability, "help": "0..1"})
    synonym_probability: float = field(default=0.2, metadata={"check": _probability, "help": "0..1"})
    seed: int = 0
    mention_source: str = field(default="both", metadata={"choices": list(MENTION_SOURCES)})
    # None: the lists of the gazetteer rule (conf/rules/gazetteer.yaml, conf/gazetteers/*.txt)
    gazetteers: list[GazetteerList] | None = None
    gazetteer_lang: str = "vi"  # language of the gazetteer mentions
    synonyms_path: str | None = None  # None: the packaged conf/augment.yaml
    # only examples of these splits are augmented and give corpus mentions (no dev/test leak)
    splits: list[str] = field(default_factory=lambda: ["train"])


def load_augment_config(overrides: dict | None = None, path: str | None = None) -> AugmentConfig:
    """The ``defaults`` of ``conf/augment.yaml`` (or ``path``) overlaid with ``overrides``."""
    data = _read_yaml(path).get("defaults") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"augment: `defaults` in {path or 'the packaged augment.yaml'} must be a mapping")
    return from_dict(AugmentConfig, {**data, **(overrides or {})}, prefix="augment")


def _read_yaml(path: str | None) -> dict:
    source = Path(path) if path else files("nerlake.conf") / "augment.yaml"
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"augment: cannot read {source}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"augment: {source} must hold a mapping, got {type(data).__name__}")
    return data


# --- BIO ------------------------------------------------------------------------------


def bio_error(labels: list[str]) -> str | None:
    """Why ``labels`` is not a valid BIO sequence, or None when it is.

    Valid: every tag is ``O``, ``B-X`` or ``I-X`` (X non-empty), and ``I-X`` follows
    ``B-X`` or ``I-X``.
    """
    previous = None
    for i, tag in enumerate(labels):
        if tag == "O":
            previous = None
            continue
        kind, label = tag[:2], tag[2:]
        if kind not in ("B-", "I-") or not label:
            return f"tag {i} {tag!r} is not O, B-X or I-X"
        if kind == "I-" and previous != label:
            return f"tag {i} {tag!r} does not continue a {label} mention"
        previous = label
    return None


def _check(example: Example) -> None:
    error = bio_error(example.labels)
    if error:
        raise InvalidExampleError(f"{example.example_id}: invalid BIO: {error} (repair it first)")
    if len(example.offsets) != len(example.tokens):
        raise InvalidExampleError(
            f"{example.example_id}: {len(example.offsets)} offsets for {len(example.tokens)} tokens")
    end = 0
    for i, (s, e) in enumerate(example.offsets):
        if s < end or e < s or e > len(example.text):
            raise InvalidExampleError(f"{example.example_id}: offsets of token {i} {(s, e)} out of order or range")
        end = e


def mention_slices(labels: list[str]) -> list[tuple[int, int, str]]:
    """(first token, end token exclusive, label) of each mention of a valid BIO sequence."""
    mentions, start = [], None
    for i, tag in enumerate(labels):
        if tag.startswith("I-"):
            continue
        if start is not None:
            mentions.append((start, i, labels[start][2:]))
            start = None
        if tag.startswith("B-"):
            start = i
    if start is not None:
        mentions.append((start, len(labels), labels[start][2:]))
    return mentions


def _mention_labels(label: str, size: int) -> list[str]:
    return [f"B-{label}"] + [f"I-{label}"] * (size - 1)


# --- mention bank ---------------------------------------------------------------------


class Mention(NamedTuple):
    tokens: tuple[str, ...]
    # the mention as written ("TP. HCM") and where its tokens sit in it; None: join the tokens
    surface: str | None = None
    inner_offsets: tuple[tuple[int, int], ...] = ()


def _locate(surface: str, tokens: tuple[str, ...]) -> tuple[tuple[int, int], ...] | None:
    """Offsets of ``tokens`` in ``surface`` when the tokens cover it end to end, else None."""
    try:
        offsets = align_tokens(surface, list(tokens))
    except ValueError:
        return None
    if offsets[0][0] != 0 or offsets[-1][1] != len(surface):
        return None
    return tuple(offsets)


class MentionBank:
    """Entity mentions per (language, label), sampled deterministically.

    A mention is a token tuple, kept once, with the text it was written as when known (the
    smallest such text when several differ in spacing only). Mentions are sampled uniformly
    from their sorted list, so a bank built from the same mentions in any order samples the
    same way.
    """

    def __init__(self):
        self._mentions: dict[tuple[str, str], dict[tuple[str, ...], Mention]] = {}
        self._sorted: dict[tuple[str, str], tuple[tuple[Mention, ...], dict]] = {}

    def add(self, lang: str, label: str, tokens, surface: str | None = None) -> None:
        """One mention; ``surface``, the text it was written as, is kept when ``tokens`` cover it."""
        tokens = tuple(tokens)
        if not tokens:
            raise ValueError(f"empty mention for {lang}/{label}")
        inner = _locate(surface, tokens) if surface else None
        mention = Mention(tokens, surface, inner) if inner else Mention(tokens)
        entries = self._mentions.setdefault((lang, label), {})
        known = entries.get(tokens)
        if known is None or (mention.surface is not None
                             and (known.surface is None or mention.surface < known.surface)):
            entries[tokens] = mention
            self._sorted.pop((lang, label), None)

    def add_examples(self, examples: Iterable[Example]) -> "MentionBank":
        """Every mention of ``examples`` (which must have valid BIO)."""
        for example in examples:
            for row in mentions_of(example):
                self.add(*row)
        return self

    def add_gazetteers(self, lists: Iterable[GazetteerList], lang: str = "vi") -> "MentionBank":
        """Every name and variant of term files, tokenised like the corpora (``simple_tokenize``)."""
        from .rules.gazetteer import read_terms  # the gazetteer rule's own file format

        for i, term_list in enumerate(lists):
            for canonical, variant in read_terms(Path(term_list.path), f"augment.gazetteers[{i}].path"):
                for name in {canonical, variant}:
                    self.add(lang, term_list.label, [tok for tok, _, _ in simple_tokenize(name)], name)
        return self

    @classmethod
    def from_mentions(cls, rows: Iterable[tuple]) -> "MentionBank":
        """A bank of (lang, label, tokens[, surface]) rows, e.g. collected by Spark from ``mentions_of``."""
        bank = cls()
        for row in rows:
            bank.add(*row)
        return bank

    def labels(self, lang: str) -> list[str]:
        return sorted(label for (lg, label) in self._mentions if lg == lang)

    def mentions(self, lang: str, label: str) -> tuple[tuple[str, ...], ...]:
        """The token tuples of ``label``, sorted."""
        return tuple(m.tokens for m in self._ordered(lang, label)[0])

    def __len__(self) -> int:
        return sum(len(m) for m in self._mentions.values())

    def _ordered(self, lang: str, label: str) -> tuple[tuple[Mention, ...], dict]:
        key = (lang, label)
        ordered = self._sorted.get(key)
        if ordered is None:
            mentions = tuple(self._mentions[key][t] for t in sorted(self._mentions.get(key, ())))
            ordered = self._sorted[key] = (mentions, {m.tokens: i for i, m in enumerate(mentions)})
        return ordered

    def sample(self, lang: str, label: str, rng: random.Random, exclude=None) -> Mention | None:
        """A mention of ``label`` whose tokens are not ``exclude``; None when the bank has no other."""
        mentions, index = self._ordered(lang, label)
        skip = index.get(tuple(exclude)) if exclude is not None else None
        choices = len(mentions) - (skip is not None)
        if choices <= 0:
            return None
        pick = rng.randrange(choices)
        if skip is not None and pick >= skip:
            pick += 1
        return mentions[pick]


def mentions_of(example: Example) -> list[tuple[str, str, tuple[str, ...], str]]:
    """(lang, label, tokens, text as written) of each mention of ``example``."""
    _check(example)
    offsets, text = example.offsets, example.text
    return [(example.lang, label, tuple(example.tokens[s:e]), text[offsets[s][0]:offsets[e - 1][1]])
            for s, e, label in mention_slices(example.labels)]


def default_gazetteer_lists() -> list[GazetteerList]:
    """The term lists of the gazetteer rule, with their labels (``conf/rules/gazetteer.yaml``)."""
    from .rules.common import load_rule_settings
    from .rules.gazetteer import NAME, GazetteerSettings

    settings = load_rule_settings(GazetteerSettings, NAME, None)
    folder = Path(settings.directory) if settings.directory else Path(str(files("nerlake.conf") / "gazetteers"))
    return [GazetteerList(path=str(folder / t.file), label=t.label) for t in settings.lists]


def build_mention_bank(cfg: AugmentConfig, examples: Iterable[Example] = (),
                       mentions: Iterable[tuple] = ()) -> MentionBank:
    """The bank ``cfg.mention_source`` asks for.

    Corpus mentions (sources ``corpus`` and ``both``; ignored for ``gazetteer``) come from
    the ``examples`` of ``cfg.splits`` and from ready ``mentions`` rows: what a Spark job
    collects (distinct) with ``mentions_of`` from the examples of ``cfg.splits``. Gazetteer
    mentions come from ``cfg.gazetteers`` (default: the gazetteer rule's lists).
    """
    bank = MentionBank()
    if cfg.mention_source in ("corpus", "both"):
        for row in mentions:
            bank.add(*row)
        bank.add_examples(e for e in examples if e.split in cfg.splits)
    if cfg.mention_source in ("gazetteer", "both"):
        lists = cfg.gazetteers if cfg.gazetteers is not None else default_gazetteer_lists()
        bank.add_gazetteers(lists, cfg.gazetteer_lang)
    return bank


# --- synonyms -------------------------------------------------------------------------


def _word_key(word: str) -> str:
    """How a word is compared with synonym entries: NFC, modern tone marks, lower case."""
    if not word.isascii():
        word = modern_tone_marks(unicodedata.normalize("NFC", word))
    return word.lower()


class SynonymMap:
    """Interchangeable words and phrases of one language.

    Built from groups (``[[bây giờ, hiện tại, lúc này], ...]``): any phrase of a group may
    replace any other. Phrases are split on whitespace and matched token by token, ignoring
    case, Unicode composition and old/new tone-mark placement.
    """

    def __init__(self, groups: Iterable[Iterable[str]], name: str = "synonyms"):
        alternatives: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        for i, group in enumerate(groups):
            if isinstance(group, str) or not isinstance(group, (list, tuple)):
                raise ConfigError(f"{name}[{i}]: expected a list of phrases, got {group!r}")
            phrases = {}
            for phrase in group:
                if not isinstance(phrase, str) or not phrase.split():
                    raise ConfigError(f"{name}[{i}]: {phrase!r} is not a word or phrase")
                phrases.setdefault(tuple(_word_key(w) for w in phrase.split()), tuple(phrase.split()))
            if len(phrases) < 2:
                raise ConfigError(f"{name}[{i}]: a group needs two different phrases, got {group!r}")
            for key in phrases:
                alternatives.setdefault(key, set()).update(p for k, p in phrases.items() if k != key)
        self._alternatives = {key: tuple(sorted(alts)) for key, alts in alternatives.items()}
        self._first_words = frozenset(key[0] for key in self._alternatives)
        self.max_words = max((len(key) for key in self._alternatives), default=0)

    def __len__(self) -> int:
        return len(self._alternatives)

    def alternatives(self, words: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
        return self._alternatives.get(tuple(_word_key(w) for w in words), ())

    def find(self, keys: list[str], start: int, free: list[bool]) -> tuple[int, tuple] | None:
        """(length, alternatives) of the longest entry at ``start`` over ``free`` tokens."""
        if keys[start] not in self._first_words:
            return None
        for size in range(min(self.max_words, len(keys) - start), 0, -1):
            if all(free[start:start + size]):
                alts = self._alternatives.get(tuple(keys[start:start + size]))
                if alts:
                    return size, alts
        return None


def load_synonyms(path: str | None = None) -> dict[str, SynonymMap]:
    """Language -> synonym map, from the ``synonyms`` of ``conf/augment.yaml`` (or ``path``)."""
    data = _read_yaml(path).get("synonyms") or {}
    if not isinstance(data, dict):
        raise ConfigError("augment: `synonyms` must map languages to lists of phrase groups")
    return {lang: SynonymMap(groups or [], f"synonyms.{lang}") for lang, groups in data.items()}


@lru_cache(maxsize=8)
def _cached_synonyms(path: str | None) -> dict[str, SynonymMap]:
    return load_synonyms(path)


# --- augmentation ---------------------------------------------------------------------


def swap_mentions(example: Example, bank: MentionBank, rng: random.Random, probability: float = 1.0) -> Example:
    """``example`` with each mention, with ``probability``, replaced by another of its label.

    A replacement of k tokens is labelled B-X then k-1 I-X; mentions whose label has no
    other mention in the bank (for the example's language) stay.
    """
    _check(example)
    return _apply_edits(example, _swap_edits(example, bank, rng, probability))


def replace_synonyms(example: Example, synonyms: SynonymMap, rng: random.Random,
                     probability: float = 1.0) -> Example:
    """``example`` with context words (O tokens), with ``probability``, replaced by synonyms.

    The longest entry wins at each position; a capitalised word gives a capitalised
    replacement ("Bây giờ" -> "Hiện tại"). Replacements are labelled O.
    """
    _check(example)
    return _apply_edits(example, _synonym_edits(example, _context_keys(example), synonyms, rng, probability))


class Edit(NamedTuple):
    """Tokens [start, end) of an example become ``tokens`` labelled ``labels``, written as
    ``surface`` (with ``inner_offsets``) or, without one, as the tokens joined."""

    start: int
    end: int
    tokens: list[str]
    labels: list[str]
    surface: str | None = None
    inner_offsets: tuple[tuple[int, int], ...] = ()


def _swap_edits(example: Example, bank: MentionBank, rng: random.Random, probability: float) -> list[Edit]:
    edits = []
    for start, end, label in mention_slices(example.labels):
        if rng.random() >= probability:
            continue
        new = bank.sample(example.lang, label, rng, exclude=example.tokens[start:end])
        if new is not None:
            edits.append(Edit(start, end, list(new.tokens), _mention_labels(label, len(new.tokens)),
                              new.surface, new.inner_offsets))
    return edits


def _context_keys(example: Example) -> list[str]:
    """The synonym key of each O token ("" for entity tokens)."""
    return [_word_key(tok) if tag == "O" else "" for tok, tag in zip(example.tokens, example.labels)]


def _synonym_edits(example: Example, keys: list[str], synonyms: SynonymMap, rng: random.Random,
                   probability: float) -> list[Edit]:
    if not synonyms.max_words:
        return []
    tokens = example.tokens
    free = [tag == "O" for tag in example.labels]
    edits, i = [], 0
    while i < len(tokens):
        found = synonyms.find(keys, i, free) if free[i] else None
        if found is None:
            i += 1
            continue
        size, alternatives = found
        if rng.random() < probability:
            new = list(alternatives[rng.randrange(len(alternatives))])
            if tokens[i][:1].isupper() and new[0][:1].islower():
                new[0] = new[0][:1].upper() + new[0][1:]
            edits.append(Edit(i, i + size, new, ["O"] * len(new)))
        i += size
    return edits


def _apply_edits(example: Example, edits: list[Edit], **changes) -> Example:
    """``example`` with token ranges replaced (``edits`` in order, not overlapping) and
    ``changes`` to its other fields; the text between and around tokens (spacing,
    punctuation) is kept."""
    if not edits:
        return replace(example, **changes) if changes else example
    sep = "" if example.lang in NO_SPACE_LANGS else " "
    text, old_offsets = example.text, example.offsets
    pieces, tokens, labels, offsets = [], [], [], []
    length = 0  # of the new text so far
    copied = 0  # end of the part of the old text already handled
    done = 0  # tokens of the old example already handled
    for start, end, new_tokens, new_labels, surface, inner_offsets in edits:
        if start > done:  # the unchanged tokens before this edit move by a constant shift
            shift = length - copied
            offsets += [(s + shift, e + shift) for s, e in old_offsets[done:start]]
            tokens += example.tokens[done:start]
            labels += example.labels[done:start]
            copied_to = old_offsets[start - 1][1]
            pieces.append(text[copied:copied_to])
            length += copied_to - copied
            copied = copied_to
        gap = text[copied:old_offsets[start][0]]
        pieces.append(gap)
        length += len(gap)
        if surface is not None:
            offsets += [(s + length, e + length) for s, e in inner_offsets]
            pieces.append(surface)
            length += len(surface)
        else:
            for k, token in enumerate(new_tokens):
                if k:
                    pieces.append(sep)
                    length += len(sep)
                offsets.append((length, length + len(token)))
                pieces.append(token)
                length += len(token)
        tokens += new_tokens
        labels += new_labels
        copied = old_offsets[end - 1][1]
        done = end
    shift = length - copied
    offsets += [(s + shift, e + shift) for s, e in old_offsets[done:]]
    tokens += example.tokens[done:]
    labels += example.labels[done:]
    pieces.append(text[copied:])
    return replace(example, tokens=tokens, labels=labels, text="".join(pieces), offsets=offsets, spans=[], **changes)


def copy_seed(seed: int, example_id: str, copy: int) -> int:
    """Seed of the random generator of copy ``copy`` of ``example_id`` (order-independent)."""
    digest = hashlib.sha256(f"{seed}\x1f{example_id}\x1f{copy}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def augment_examples(examples: Iterable[Example], cfg: AugmentConfig, bank: MentionBank,
                     synonyms: dict[str, SynonymMap] | None = None) -> Iterator[Example]:
    """Augmented copies of ``examples`` of ``cfg.splits`` (the originals are not repeated).

    Copy k (1..``cfg.copies``) of an example is ``<example_id>#aug<k>`` in dataset
    ``<dataset>_aug``, same split, language and domain. A copy identical to the original or
    to an earlier copy is not emitted (its id is then absent; ids stay tied to k).
    ``synonyms`` defaults to the map of ``cfg.synonyms_path`` (read once per process).
    Raises ``InvalidExampleError`` on an example with invalid BIO or offsets.
    """
    if synonyms is None:
        synonyms = _cached_synonyms(cfg.synonyms_path)
    for example in examples:
        if example.split not in cfg.splits:
            continue
        _check(example)
        synonym_map = synonyms.get(example.lang) if cfg.synonym_probability > 0 else None
        keys = _context_keys(example) if synonym_map is not None else None
        seen = {tuple(example.tokens)}
        for k in range(1, cfg.copies + 1):
            rng = random.Random(copy_seed(cfg.seed, example.example_id, k))
            # mentions are not O tokens: both kinds of edits index the original and never overlap
            edits = _swap_edits(example, bank, rng, cfg.swap_probability)
            if synonym_map is not None:
                edits = sorted(edits + _synonym_edits(example, keys, synonym_map, rng, cfg.synonym_probability),
                               key=lambda edit: edit.start)
            if not edits:
                continue
            copy = _apply_edits(example, edits, dataset=example.dataset + AUG_SUFFIX,
                                example_id=f"{example.example_id}#aug{k}")
            key = tuple(copy.tokens)
            if key not in seen:
                seen.add(key)
                yield copy
