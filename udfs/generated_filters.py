"""Turn LLM annotation responses into clean open-domain NER training data.

Input: response records of :mod:`nerlake.udfs.llm_annotate` (``Response`` objects or their
dicts: ``passage_id``, ``passage_hash``, ``chunk_index``, ``chunk_text``, ``response_text``,
``error``). :func:`filter_responses` runs these steps, each counting what it removed:

1. **parse** the JSON list of ``{"entity", "type"}`` out of the answer (bare, inside a
   ```json fence or surrounded by prose; ``{"entities": [...]}`` is unwrapped). A failed call
   or an unreadable answer becomes a quarantine record with reason ``llm_error``,
   ``malformed_json`` or ``not_a_list``; items without a non-blank string ``entity`` and
   ``type`` are dropped and the response gets a ``missing_fields`` quarantine record (its
   good items are kept).
2. **normalise type names** (:func:`normalize_type`): code prefixes (``entity_type:``,
   ``type=``, ``label:``) removed, snake_case / camelCase split into words, case-folded,
   edge punctuation trimmed, modern Vietnamese tone marks, then ``conf/type_synonyms.yaml``.
3. **drop bad types** (:func:`type_problem`): written in another script than the target
   language, more than 4 words or 40 characters, containing a digit, mostly punctuation.
   The script rule: every letter must be plain ASCII (English type names are allowed in
   any set) or a letter of the target language's script; for Vietnamese that is the
   Vietnamese alphabet (Latin with Vietnamese vowel and tone marks, đ), so Chinese,
   Cyrillic, Thai letters or Latin letters with marks Vietnamese does not use (ç, ü, ñ)
   are foreign.
4. **drop hallucinated entities** whose surface is not in the passage as whole words
   (NFC, modern tone marks and runs of whitespace do not count as differences). With
   ``fold_match`` an entity not found exactly is looked for again ignoring case and
   diacritics. A kept mention is always the passage's own text.
5. **group** into one-type samples ``{passage_id, passage, type, mentions}``.
6. **drop over-length samples**: passage (the input) or JSON list of mentions (the label)
   longer than ``max_tokens`` tokens of the pluggable ``tokenize``.
7. **deduplicate**: same passage text, same type, same mention set.

Outputs: the one-type samples, one BIO ``Example`` per passage (every whole-token
occurrence of each kept mention labelled with its type, longest mention first, no
overlaps) and a stats ``Counter``; :func:`type_summary` describes the type distribution.
Deduplication only sees the responses of one call (plus the optional ``seen`` set): the
job partitions by passage text first.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .config import ConfigError
from .examples import Example, bio_from_spans, simple_tokenize
from .textnorm import fold, make_doc, modern_tone_marks

# Letters allowed in type names besides plain ASCII, by target language: a script named by
# the first word of the letters' Unicode names, or "vietnamese" for the Vietnamese alphabet.
SCRIPTS: dict[str, frozenset[str]] = {
    "vi": frozenset({"vietnamese"}),
    "en": frozenset({"LATIN"}), "id": frozenset({"LATIN"}), "ms": frozenset({"LATIN"}),
    "tl": frozenset({"LATIN"}),
    "th": frozenset({"THAI"}), "lo": frozenset({"LAO"}), "km": frozenset({"KHMER"}),
    "my": frozenset({"MYANMAR"}), "zh": frozenset({"CJK"}), "ko": frozenset({"HANGUL"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}), "ru": frozenset({"CYRILLIC"}),
}

QUARANTINE_REASONS = ("llm_error", "malformed_json", "not_a_list", "missing_fields", "invalid_record")
TYPE_PROBLEMS = ("type_empty", "type_foreign_script", "type_too_long", "type_has_digit", "type_mostly_punctuation")


def _vietnamese_letters() -> frozenset[str]:
    tones = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
    vowels = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y"]
    letters = {unicodedata.normalize("NFC", v + t) for v in vowels for t in tones} | {"đ"}
    return frozenset(letters | {c.upper() for c in letters})


_VIETNAMESE = _vietnamese_letters()


@dataclass
class FilterConfig:
    target_language: str = field(default="vi", metadata={"choices": tuple(SCRIPTS)})
    max_tokens: int = field(default=1024, metadata={"check": lambda v: v > 0, "help": "> 0"})
    fold_match: bool = False  # look for entities again ignoring case and diacritics
    max_type_words: int = field(default=4, metadata={"check": lambda v: v > 0, "help": "> 0"})
    max_type_chars: int = field(default=40, metadata={"check": lambda v: v > 0, "help": "> 0"})
    type_synonyms_path: str | None = None  # None: the packaged conf/type_synonyms.yaml
    dataset: str = "llm_generated"  # Example.dataset of the BIO output
    domain: str = "open"
    split: str = "train"


@dataclass
class TypeSample:
    """One passage, one type, every mention of that type: open-domain training format."""

    passage_id: str
    passage_hash: str
    passage: str
    type: str
    mentions: list[str]  # the passage's own text, in order of first occurrence

    def to_dict(self) -> dict:
        return {"passage_id": self.passage_id, "passage_hash": self.passage_hash, "passage": self.passage,
                "type": self.type, "mentions": list(self.mentions)}


@dataclass
class FilterOutput:
    samples: list[TypeSample] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)

    def type_summary(self) -> dict:
        return type_summary(Counter(s.type for s in self.samples))


# --------------------------------------------------------------------------- 1. parse

@dataclass
class Parsed:
    annotations: list[tuple[str, str]]  # (entity, raw type), in the model's order
    reason: str | None = None  # a quarantine reason, or None
    detail: str = ""
    bad_items: int = 0


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.S)
# An answer of prose with a list somewhere: try at most this many "[" as the list's start.
_MAX_LIST_STARTS = 20


def extract_json(content: str) -> tuple[object, bool]:
    """The JSON value in ``content``: the whole text, a fenced block, or the first "[" that
    starts a valid JSON value. Returns ``(value, True)`` or ``(None, False)``."""
    decoder = json.JSONDecoder()
    candidates = [m.group(1).strip() for m in _FENCE.finditer(content)] + [content.strip()]
    for candidate in candidates:
        try:
            return json.loads(candidate), True
        except ValueError:
            pass
    start = content.find("[")
    for _ in range(_MAX_LIST_STARTS):
        if start < 0:
            break
        try:
            return decoder.raw_decode(content, start)[0], True
        except ValueError:
            start = content.find("[", start + 1)
    return None, False


def parse_annotations(content) -> Parsed:
    if not isinstance(content, str) or not content.strip():
        return Parsed([], "malformed_json", "empty answer")
    value, ok = extract_json(content)
    if not ok:
        return Parsed([], "malformed_json", "no JSON value in the answer")
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(value) == 1 and len(lists) == 1:  # {"entities": [...]}
            value = lists[0]
    if not isinstance(value, list):
        return Parsed([], "not_a_list", f"the answer is a JSON {type(value).__name__}")
    annotations, bad = [], 0
    for item in value:
        entity = item.get("entity") if isinstance(item, dict) else None
        type_ = item.get("type") if isinstance(item, dict) else None
        if isinstance(entity, str) and isinstance(type_, str) and entity.strip() and type_.strip():
            annotations.append((entity.strip(), type_))
        else:
            bad += 1
    if bad:
        return Parsed(annotations, "missing_fields", f"{bad} of {len(value)} items lack a string entity and type", bad)
    return Parsed(annotations)


# --------------------------------------------------------------------------- 2-3. types

_PREFIX = re.compile(r"(?:entity[\s_-]*type|entity[\s_-]*label|ner[\s_-]*(?:type|tag|label)|type|label|category"
                     r"|class|tag)\s*[:=]\s*", re.I)
_EDGE_PUNCT = " \t\r\n\"'`“”‘’«»*#.,;:!?-–—_/\\|"
_BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _split_camel_case(text: str) -> str:
    out = []
    for i, c in enumerate(text):
        if i and c.isupper():
            prev, nxt = text[i - 1], text[i + 1:i + 2]
            if prev.islower() or (prev.isupper() and nxt.islower()):  # "productName", "HTTPServer"
                out.append(" ")
        out.append(c)
    return "".join(out)


def _trim(text: str) -> str:
    while True:
        trimmed = text.strip(_EDGE_PUNCT)
        if len(trimmed) >= 2 and _BRACKETS.get(trimmed[0]) == trimmed[-1]:
            trimmed = trimmed[1:-1]
        if trimmed == text:
            return text
        text = trimmed


@lru_cache(maxsize=1 << 16)  # a few thousand distinct type names recur millions of times
def _canonical_form(raw: str) -> str:
    text = _trim(unicodedata.normalize("NFC", raw))
    while (m := _PREFIX.match(text)) is not None:
        text = _trim(text[m.end():])
    text = _split_camel_case(text).replace("_", " ")
    text = modern_tone_marks(unicodedata.normalize("NFC", text.casefold()))
    return " ".join(_trim(text).split())


def normalize_type(raw: str, synonyms: Mapping[str, str] | None = None) -> str:
    """A type name as the training data spells it ("" when nothing is left).

    ``"entity_type: Tổ_Chức"`` -> ``"tổ chức"`` -> (synonyms) ``"organization"``;
    ``"productName"`` -> ``"product name"``. ``synonyms``: None loads the packaged map.
    """
    text = _canonical_form(raw)
    table = load_type_synonyms() if synonyms is None else synonyms
    return table.get(text, text)


def _letter_in_script(c: str, scripts: frozenset[str]) -> bool:
    if c.isascii():
        return True
    if "vietnamese" in scripts and c in _VIETNAMESE:
        return True
    return unicodedata.name(c, "").split(" ", 1)[0] in scripts


def type_problem(type_name: str, cfg: FilterConfig) -> str | None:
    """Why a normalised type name is unusable (one of TYPE_PROBLEMS), or None."""
    if not type_name:
        return "type_empty"
    scripts = SCRIPTS[cfg.target_language]
    letters = [c for c in type_name if c.isalpha()]
    if any(not _letter_in_script(c, scripts) for c in letters):
        return "type_foreign_script"
    if len(type_name) > cfg.max_type_chars or len(type_name.split()) > cfg.max_type_words:
        return "type_too_long"
    if any(c.isdigit() for c in type_name):
        return "type_has_digit"
    visible = sum(1 for c in type_name if not c.isspace())
    if len(letters) * 2 < visible:
        return "type_mostly_punctuation"
    return None


@lru_cache(maxsize=8)
def _synonym_table(path: str | None) -> dict[str, str]:
    try:
        if path is None:
            raw, where = (resources.files("nerlake.conf") / "type_synonyms.yaml").read_text(encoding="utf-8"), \
                "packaged conf/type_synonyms.yaml"
        else:
            raw, where = Path(path).read_text(encoding="utf-8"), path
        data = yaml.safe_load(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"type_synonyms_path: cannot read {path or 'conf/type_synonyms.yaml'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"type_synonyms_path: {where} must map canonical types to lists of names")
    table: dict[str, str] = {}
    for canonical, names in data.items():
        if not isinstance(canonical, str) or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"type_synonyms.{canonical}: expected a list of names, got {names!r}")
        target = _canonical_form(canonical)
        for name in [canonical, *names]:
            form = _canonical_form(name)
            if table.get(form, target) != target:
                raise ConfigError(f"type_synonyms.{canonical}: {name!r} is already a synonym of {table[form]!r}")
            table[form] = target
    return table


def load_type_synonyms(path: str | None = None) -> dict[str, str]:
    """normalised name -> canonical type, from ``path`` (None: the packaged file). Cached:
    do not change the returned dict."""
    return _synonym_table(path)


# --------------------------------------------------------------------------- 4. mentions

class PassageIndex:
    """Finds entity surfaces in one passage as whole words; offsets index the original text."""

    def __init__(self, text: str):
        self.text = text
        self.doc = make_doc(text)
        self._found: dict[tuple[str, bool], list[tuple[int, int]]] = {}

    def occurrences(self, surface: str, folded: bool = False) -> list[tuple[int, int]]:
        key = (surface, folded)
        if key not in self._found:
            self._found[key] = self._search(surface, folded)
        return self._found[key]

    def _search(self, surface: str, folded: bool) -> list[tuple[int, int]]:
        parts = modern_tone_marks(unicodedata.normalize("NFC", surface)).split()
        if not parts:
            return []
        if folded:
            parts = [fold(p) for p in parts]
        pattern = r"\s+".join(map(re.escape, parts))
        if _is_word_char(parts[0][0]):
            pattern = r"(?<!\w)" + pattern
        if _is_word_char(parts[-1][-1]):
            pattern += r"(?!\w)"
        haystack = self.doc.folded if folded else self.doc.norm
        return [self.doc.to_original(m.start(), m.end()) for m in re.finditer(pattern, haystack)]

    def locate(self, entity: str, fold_match: bool) -> tuple[tuple[int, int] | None, bool]:
        """The first occurrence of ``entity`` and whether it took the folded match;
        ``(None, False)`` when the passage does not contain it."""
        for folded in (False, True) if fold_match else (False,):
            found = self.occurrences(entity, folded)
            if found:
                return found[0], folded
        return None, False


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


# --------------------------------------------------------------------------- pipeline

Tokenize = Callable[[str], Sized]


def _field(record, name: str):
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def _quarantine(record, reason: str, detail: str) -> dict:
    def get(name):
        try:
            return _field(record, name)
        except (KeyError, AttributeError, TypeError):
            return None
    answer = get("response_text")
    return {"passage_id": get("passage_id"), "passage_hash": get("passage_hash"), "reason": reason,
            "detail": detail, "response_preview": answer[:500] if isinstance(answer, str) else None}


def filter_responses(responses: Iterable, cfg: FilterConfig | None = None, tokenize: Tokenize | None = None,
                     label_map: Mapping[str, str] | None = None, seen: set | None = None) -> FilterOutput:
    """Run every filter over ``responses``; see the module docstring.

    ``tokenize`` counts tokens for the length limit (default ``simple_tokenize``; the job
    passes the model tokenizer). ``label_map`` (optional) renames types to the BIO labels of
    a closed label set; types it lacks are left unlabelled in the BIO output. ``seen``
    carries deduplication keys across calls.

    Stats keys: ``responses_in``, ``responses_quarantined.<reason>``; ``annotations_in`` =
    ``annotations_kept`` + ``annotations_dropped.<missing_fields | type problem |
    entity_without_word | hallucinated>`` (``annotations_matched_folded`` among the kept);
    ``samples_in``, ``samples_dropped.<input_too_long | label_too_long | duplicate>``,
    ``samples_out``; ``bio_examples_out``, ``bio_dropped.<input_too_long | duplicate_passage>``,
    ``bio_occurrences_unaligned`` / ``_overlapping`` and ``bio_mentions_unmapped``.
    """
    cfg = cfg or FilterConfig()
    tokenize = tokenize or simple_tokenize
    synonyms = load_type_synonyms(cfg.type_synonyms_path)
    types = _TypeChecker(cfg, synonyms)
    out = FilterOutput()
    seen = seen if seen is not None else set()
    for record in responses:
        out.stats["responses_in"] += 1
        try:
            _filter_one(record, cfg, tokenize, types, label_map, seen, out)
        except Exception as exc:  # one bad record must not stop the partition
            out.stats["responses_quarantined.invalid_record"] += 1
            out.quarantine.append(_quarantine(record, "invalid_record", f"{type(exc).__name__}: {exc}"))
    out.stats["samples_out"] = len(out.samples)
    out.stats["bio_examples_out"] = len(out.examples)
    return out


class _TypeChecker:
    """normalize_type and type_problem, remembered per raw name for one call."""

    def __init__(self, cfg: FilterConfig, synonyms: Mapping[str, str]):
        self.cfg, self.synonyms = cfg, synonyms
        self._known: dict[str, tuple[str, str | None]] = {}

    def __call__(self, raw_type: str) -> tuple[str, str | None]:
        known = self._known.get(raw_type)
        if known is None:
            type_name = normalize_type(raw_type, self.synonyms)
            known = self._known[raw_type] = (type_name, type_problem(type_name, self.cfg))
        return known


def _filter_one(record, cfg: FilterConfig, tokenize: Tokenize, types: _TypeChecker, label_map, seen: set,
                out: FilterOutput) -> None:
    stats = out.stats
    # Read every field first: a record lacking one fails before it changes any output.
    error, passage, answer = _field(record, "error"), _field(record, "chunk_text"), _field(record, "response_text")
    passage_id, passage_hash = _field(record, "passage_id"), _field(record, "passage_hash")
    example_id = f"{passage_id}#{_field(record, 'chunk_index')}"
    if error is not None or answer is None:
        stats["responses_quarantined.llm_error"] += 1
        out.quarantine.append(_quarantine(record, "llm_error", str(error or "no answer")))
        return
    if not isinstance(passage, str) or not passage.strip():
        raise ValueError("chunk_text is missing or blank")
    parsed = parse_annotations(answer)
    stats["annotations_in"] += len(parsed.annotations) + parsed.bad_items
    if parsed.bad_items:
        stats["annotations_dropped.missing_fields"] += parsed.bad_items
    if parsed.reason is not None:
        stats[f"responses_quarantined.{parsed.reason}"] += 1
        out.quarantine.append(_quarantine(record, parsed.reason, parsed.detail))
        if parsed.reason != "missing_fields":
            return

    index = PassageIndex(passage)
    # type -> mention (the passage's text) -> its first occurrence; types in the model's order
    mentions_by_type: dict[str, dict[str, tuple[int, int]]] = {}
    for entity, raw_type in parsed.annotations:
        type_name, problem = types(raw_type)
        if problem is None and not any(_is_word_char(c) for c in entity):
            problem = "entity_without_word"
        if problem is None:
            first, folded = index.locate(entity, cfg.fold_match)
            if first is None:
                problem = "hallucinated"
            elif folded:
                stats["annotations_matched_folded"] += 1
        if problem is not None:
            stats[f"annotations_dropped.{problem}"] += 1
            continue
        stats["annotations_kept"] += 1
        mentions_by_type.setdefault(type_name, {}).setdefault(passage[first[0]:first[1]], first)

    stats["samples_in"] += len(mentions_by_type)
    if len(tokenize(passage)) > cfg.max_tokens:
        stats["samples_dropped.input_too_long"] += len(mentions_by_type)
        stats["bio_dropped.input_too_long"] += 1
        return

    text_key = hashlib.sha256(passage.encode("utf-8")).hexdigest()
    for type_name, firsts in mentions_by_type.items():
        mentions = sorted(firsts, key=firsts.get)  # in order of first occurrence
        label_text = json.dumps(mentions, ensure_ascii=False)
        if len(tokenize(label_text)) > cfg.max_tokens:
            stats["samples_dropped.label_too_long"] += 1
            continue
        key = (text_key, type_name, frozenset(mentions))
        if key in seen:
            stats["samples_dropped.duplicate"] += 1
            continue
        seen.add(key)
        out.samples.append(TypeSample(str(passage_id), passage_hash, passage, type_name, mentions))

    if text_key in seen:  # the passage's BIO example was made from an earlier response
        stats["bio_dropped.duplicate_passage"] += 1
        return
    seen.add(text_key)
    # The label limit is for generative training; the BIO view keeps every mention.
    out.examples.append(_bio_example(example_id, passage, index, mentions_by_type, cfg, label_map, stats))


def _bio_example(example_id: str, passage: str, index: PassageIndex,
                 mentions_by_type: dict[str, dict[str, tuple[int, int]]], cfg: FilterConfig, label_map,
                 stats: Counter) -> Example:
    tokens = simple_tokenize(passage)
    token_starts = {s for _, s, _ in tokens}
    token_ends = {e for _, _, e in tokens}
    candidates = []  # (start, end, label, rank of the type in the model's answer)
    for rank, (type_name, mentions) in enumerate(mentions_by_type.items()):
        label = type_name if label_map is None else label_map.get(type_name)
        if label is None:
            stats["bio_mentions_unmapped"] += len(mentions)
            continue
        for mention, first in mentions.items():
            for start, end in {first, *index.occurrences(mention, cfg.fold_match)}:
                if start in token_starts and end in token_ends:
                    candidates.append((start, end, label, rank))
                else:
                    stats["bio_occurrences_unaligned"] += 1
    taken = bytearray(len(passage))
    spans = []
    for start, end, label, _ in sorted(candidates, key=lambda c: (c[0] - c[1], c[3], c[0])):
        if any(taken[start:end]):
            stats["bio_occurrences_overlapping"] += 1
            continue
        taken[start:end] = b"\x01" * (end - start)
        spans.append({"start": start, "end": end, "label": label})
    spans.sort(key=lambda sp: sp["start"])
    words, labels, offsets = bio_from_spans(passage, spans, tokens)
    return Example(cfg.dataset, cfg.split, example_id, cfg.target_language, cfg.domain, words, labels,
                   text=passage, offsets=offsets, spans=spans)


# --------------------------------------------------------------------------- stats

def type_summary(type_counts: Mapping[str, int]) -> dict:
    """The type distribution of one-type samples (``type -> number of samples``): number of
    types and samples, the share of samples held by the top 1% of types (at least one
    type), and the number of types seen once. The job passes global counts."""
    counts = sorted((n for n in type_counts.values() if n > 0), reverse=True)
    total = sum(counts)
    top_k = max(1, math.ceil(len(counts) / 100)) if counts else 0
    return {
        "n_types": len(counts),
        "n_samples": total,
        "top1pct_types": top_k,
        "top1pct_share": sum(counts[:top_k]) / total if total else 0.0,
        "types_seen_once": sum(1 for n in counts if n == 1),
    }
