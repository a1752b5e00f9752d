"""The hybrid merge: a record's rule spans and model spans -> one sorted, non-overlapping list.

The merge is a pipeline of named steps (spaCy-style registry): :data:`MERGE_STEPS` maps a
name to a function ``step(spans, ctx) -> spans``; :class:`MergeConfig` lists the steps to run,
in order, and the options of each. Register a step of your own with ``@merge_step("name")``
(before the config is validated, and in the worker processes too) and name it in ``steps``;
its options come from ``step_options["name"]`` as ``ctx.options``.

Bookkeeping every step follows: a span a step changes (extends, trims, splits, re-labels)
or that combines rule and model evidence gets ``source="merged"`` and ``rule=<step name>``;
spans nobody touched keep ``source="rule"`` or ``"model"`` and are the very input objects.
Scores of combined evidence are the maximum of the scores combined.

The steps see the record as NFC text (``ctx.text``); offsets are mapped from and back to
the original text around the pipeline when NFC changed its length (decomposed input). A
final pass, run whatever the steps, trims whitespace, drops empty spans and resolves any
overlap left, so the result always holds ``0 <= start < end <= len(text)``, no span starts
or ends with whitespace, and no two spans overlap.
"""
from __future__ import annotations

import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from .config import ConfigError
from .labels import LABELS
from .postprocess import (FineLabels, Lexicon, collapse_labels, extend_address, extend_name, is_word_char,
                          load_label_groups, load_lexicon, repair_boundaries, split_list, trim_span)
from .registry import Registry
from .spans import SOURCES, Span, sort_spans
from .textnorm import make_doc

__all__ = ["MergeConfig", "MergeContext", "MERGE_STEPS", "merge_step", "merge_spans", "Merger",
           "collapse_labels", "load_label_groups", "DEFAULT_STEPS"]

DEFAULT_STEPS = ["repair_token_boundaries", "extend_names", "extend_addresses", "split_lists",
                 "rule_owned_labels", "resolve_overlaps", "restore_fine_labels"]
DEFAULT_RULE_OWNED = ["PHONE", "EMAIL", "URL", "ID_NUMBER", "ORDER_CODE", "LICENSE_PLATE", "DATE", "TIME",
                      "DURATION", "MONEY", "QUANTITY"]
# Precise patterns first; a date-time (TIME) before the DATE inside it; a body measurement
# before the QUANTITY it is a reading of; a full ADDRESS before the names inside it
# ("12 Lê Lợi"); an ORG before the place or person its name contains ("Ngân hàng Hà Nội").
DEFAULT_PRIORITY = ["EMAIL", "URL", "PHONE", "ID_NUMBER", "ORDER_CODE", "LICENSE_PLATE", "TIME", "DATE",
                    "DURATION", "MONEY", "CHEST", "WAIST", "HIP", "BODY_MEASUREMENT", "QUANTITY", "ADDRESS",
                    "ORG", "LOC", "PER", "PRODUCT", "SYMPTOM"]
_LABEL_CHOICES = {"choices": list(LABELS)}
_SOURCE_ORDER = {"rule": 2, "merged": 1, "model": 0}  # tie-break between equal spans

MergeStep = Callable[[list[Span], "MergeContext"], list[Span]]
MERGE_STEPS: Registry = Registry("merge step")
# Decorator: ``@merge_step("my_step")`` on ``fn(spans, ctx) -> spans`` registers it.
merge_step = MERGE_STEPS.register


def _check_steps(steps, step_options) -> None:
    for name in steps:
        if name not in MERGE_STEPS:
            raise ConfigError(f"steps: unknown merge step {name!r}; registered steps: {', '.join(MERGE_STEPS)}")
    for name in step_options:
        if name not in steps:
            raise ConfigError(f"step_options.{name}: {name!r} is not in steps ({', '.join(steps)})")


@dataclass(frozen=True)
class MergeConfig:
    """How rule and model spans are merged (YAML key ``merge``). Treated as immutable: a
    worker compiles it once (see :func:`merge_spans`)."""

    # The steps to run, in order; names from MERGE_STEPS.
    steps: list[str] = field(default_factory=lambda: list(DEFAULT_STEPS))
    # Labels the rule extractors own: where a rule span of one of them exists, overlapping
    # model spans go (rule_owned_policy); a model span that agrees exactly is merged into it.
    rule_owned_labels: list[str] = field(default_factory=lambda: list(DEFAULT_RULE_OWNED), metadata=_LABEL_CHOICES)
    # "drop": a model span overlapping an owned rule span is dropped. "trim": it is cut back to
    # the longest part outside the rule spans that is still a word (a letter, cut at a word
    # boundary), e.g. ORG "Shop Hoa 0901234567" -> "Shop Hoa"; model spans of owned labels are
    # always dropped (half a phone number is no entity).
    rule_owned_policy: str = field(default="drop", metadata={"choices": ["drop", "trim"]})
    # owned rule label -> model labels that are a more specific reading of it: a rule QUANTITY
    # "86 cm" overlapped by a model BODY_MEASUREMENT keeps the rule's offsets and takes the
    # model's label (source "merged").
    specialised_labels: dict[str, list[str]] = field(
        default_factory=lambda: {"QUANTITY": ["BODY_MEASUREMENT", "CHEST", "WAIST", "HIP"]})
    # Overlaps of different labels: the label listed earlier wins, then the higher score, then
    # the longer span. Unlisted labels rank after all listed ones, among themselves by score.
    # Overlaps of one label: the longest span wins.
    label_priority: list[str] = field(default_factory=lambda: list(DEFAULT_PRIORITY), metadata=_LABEL_CHOICES)
    # Labels whose coordinated lists are split into one span per item ("Agribank, BIDV").
    split_list_labels: list[str] = field(
        default_factory=lambda: ["ORG", "LOC", "PER", "PRODUCT", "QUANTITY", "MONEY"], metadata=_LABEL_CHOICES)
    # Labels whose names extend over the capitalised syllables that continue them.
    extend_name_labels: list[str] = field(default_factory=lambda: ["PER", "ORG", "LOC"], metadata=_LABEL_CHOICES)
    # Labels that extend over an address tail (", quận 1, TP. HCM"). ADDRESS also takes a bare
    # province (", Hà Nội"); other labels only after a recognised unit.
    extend_address_labels: list[str] = field(default_factory=lambda: ["ADDRESS", "LOC"], metadata=_LABEL_CHOICES)
    # Sources whose spans the repair steps (repair_token_boundaries, extend_names,
    # extend_addresses, split_lists) may change. Rule spans are exact by construction and
    # carry normalised values, so they are left alone by default.
    repair_sources: list[str] = field(default_factory=lambda: ["model", "merged"], metadata={"choices": list(SOURCES)})
    # restore_fine_labels: how many characters left of a group span are searched for a keyword.
    fine_label_window: int = field(default=30, metadata={"check": lambda v: v > 0, "help": "> 0"})
    # group -> fine labels -> keywords; None: the packaged conf/label_groups.yaml.
    label_groups_path: str | None = None
    # Lexical tables for span repair; None: the packaged conf/merge_lexicon.yaml.
    lexicon_path: str | None = None
    # Model spans scoring below this are dropped before any step.
    min_model_score: float = field(default=0.0, metadata={"check": lambda v: 0.0 <= v <= 1.0, "help": "in [0, 1]"})
    # step name -> options for steps registered by users (ctx.options); built-in steps take
    # theirs from the fields above.
    step_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        _check_steps(self.steps, self.step_options)
        for owner, labels in self.specialised_labels.items():
            for label in [owner, *labels]:
                if label not in LABELS:
                    raise ConfigError(f"specialised_labels.{owner}: unknown label {label!r}; "
                                      f"labels: {', '.join(LABELS)}")


@dataclass
class MergeContext:
    """What a step sees besides the spans. ``text`` is the NFC record text the offsets index."""

    text: str
    cfg: MergeConfig
    lexicon: Lexicon
    fine_labels: FineLabels
    rank: dict[str, int]
    stats: Counter
    step: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def count(self, event: str, n: int = 1) -> None:
        self.stats[f"{self.step}.{event}"] += n

    def changed(self, span: Span, **changes) -> Span:
        """``span`` with ``changes``, marked as changed by the current step."""
        # built directly: dataclasses.replace is several times slower, and this runs per span
        values = {"start": span.start, "end": span.end, "label": span.label, "score": span.score,
                  "normalized": span.normalized, "source": "merged", "rule": self.step}
        values.update(changes)
        return Span(**values)

    def moved(self, span: Span, start: int, end: int) -> Span:
        if (start, end) == (span.start, span.end):
            return span
        self.count("changed")
        return self.changed(span, start=start, end=end)

    def repairable(self, span: Span) -> bool:
        return span.source in self.cfg.repair_sources


# ---------------------------------------------------------------------------- steps

@merge_step("repair_token_boundaries")
def repair_token_boundaries(spans: list[Span], ctx: MergeContext) -> list[Span]:
    """Model spans that cut a word are extended to its ends; edge whitespace/punctuation trimmed."""
    out = []
    for span in spans:
        if not ctx.repairable(span):
            out.append(span)
            continue
        fixed = repair_boundaries(ctx.text, span.start, span.end, ctx.lexicon)
        if fixed is None:
            ctx.count("dropped_empty")
        else:
            out.append(ctx.moved(span, *fixed))
    return out


@merge_step("extend_names")
def extend_names(spans: list[Span], ctx: MergeContext) -> list[Span]:
    """PER/ORG/LOC spans extend over the capitalised syllables that continue them
    (postprocess.extend_name); spans of other labels are never entered."""
    labels = ctx.cfg.extend_name_labels
    out = []
    for span in spans:
        if span.label in labels and ctx.repairable(span):
            blocked = [(o.start, o.end) for o in spans if o.label != span.label]
            span = ctx.moved(span, *extend_name(ctx.text, span.start, span.end, span.label, ctx.lexicon, blocked))
        out.append(span)
    return out


@merge_step("extend_addresses")
def extend_addresses(spans: list[Span], ctx: MergeContext) -> list[Span]:
    """ADDRESS/LOC spans extend over the address tail after them (postprocess.extend_address)."""
    labels = ctx.cfg.extend_address_labels
    out = []
    for span in spans:
        if span.label in labels and ctx.repairable(span):
            new = extend_address(ctx.text, span.start, span.end, ctx.lexicon, full_address=span.label == "ADDRESS")
            span = ctx.moved(span, *new)
        out.append(span)
    return out


@merge_step("split_lists")
def split_lists(spans: list[Span], ctx: MergeContext) -> list[Span]:
    """A span that is a coordinated list becomes one span per item (postprocess.split_list)."""
    labels = ctx.cfg.split_list_labels
    out = []
    for span in spans:
        items = split_list(ctx.text, span.start, span.end, span.label, ctx.lexicon) \
            if span.label in labels and ctx.repairable(span) else [(span.start, span.end)]
        if len(items) == 1:
            out.append(ctx.moved(span, *items[0]))
        else:
            ctx.count("split")
            out += [ctx.changed(span, start=s, end=e) for s, e in items]
    return out


def _cuts_word(text: str, i: int) -> bool:
    return 0 < i < len(text) and is_word_char(text[i - 1]) and is_word_char(text[i])


def _trim_around(text: str, span: Span, holes: list[Span], lex: Lexicon) -> tuple[int, int] | None:
    """The longest part of ``span`` outside ``holes`` that is still a word: not cut from a
    hole mid-word, trimmed, with a letter in it. Ties go to the leftmost part."""
    pieces, pos = [], span.start
    for hole in sorted(holes, key=lambda h: h.start):
        pieces.append((pos, min(hole.start, span.end)))
        pos = max(pos, hole.end)
    pieces.append((pos, span.end))
    best = None
    for start, end in pieces:
        if start >= end or (start > span.start and _cuts_word(text, start)) \
                or (end < span.end and _cuts_word(text, end)):
            continue
        piece = trim_span(text, start, end, lex)
        if piece and any(c.isalpha() for c in text[piece[0]:piece[1]]) \
                and (best is None or piece[1] - piece[0] > best[1] - best[0]):
            best = piece
    return best


@merge_step("rule_owned_labels")
def rule_owned_labels(spans: list[Span], ctx: MergeContext) -> list[Span]:
    """Rule spans of owned labels win over the model spans they overlap (see MergeConfig)."""
    owned = ctx.cfg.rule_owned_labels
    rules = sorted((s for s in spans if s.source == "rule" and s.label in owned),
                   key=lambda s: (s.start, -s.end, s.label))
    if not rules:
        return spans
    specialised = ctx.cfg.specialised_labels
    agreed: dict[int, float] = {}  # rule index -> best score of a model span that agrees exactly
    relabel: dict[int, tuple] = {}  # rule index -> (overlap, score, label) of the best specialising span
    out = []
    for span in spans:
        if span.source == "rule":
            if span.label not in owned:
                out.append(span)
            continue
        hits = [i for i, r in enumerate(rules) if r.overlaps(span)]
        if not hits:
            out.append(span)
            continue
        same = [i for i in hits if (rules[i].start, rules[i].end, rules[i].label) == (span.start, span.end, span.label)]
        if same:
            agreed[same[0]] = max(agreed.get(same[0], span.score), span.score)
            ctx.count("agreed")
            continue
        special = [i for i in hits if span.label in specialised.get(rules[i].label, ())]
        for i in special:
            overlap = min(span.end, rules[i].end) - max(span.start, rules[i].start)
            relabel[i] = max(relabel.get(i, (overlap, span.score, span.label)), (overlap, span.score, span.label))
        if special:
            ctx.count("specialised")
            continue
        if ctx.cfg.rule_owned_policy == "trim" and span.label not in owned:
            piece = _trim_around(ctx.text, span, [rules[i] for i in hits], ctx.lexicon)
            if piece is not None:
                ctx.count("trimmed")
                out.append(ctx.changed(span, start=piece[0], end=piece[1]))
                continue
        ctx.count("dropped")
    for i, rule in enumerate(rules):
        if i in relabel:
            _, score, label = relabel[i]
            rule = ctx.changed(rule, label=label, score=max(rule.score, score))
        if i in agreed:
            rule = ctx.changed(rule, score=max(rule.score, agreed[i]))
        out.append(rule)
    return out


def _has_rule_and_model(spans) -> bool:
    sources = {s.source for s in spans}
    return "rule" in sources and len(sources) > 1


def _combine(spans: list[Span], ctx: MergeContext) -> Span:
    """One span for several with the same offsets and label."""
    best = max(spans, key=lambda s: (s.score, _SOURCE_ORDER[s.source], s.normalized or "", s.rule or ""))
    if not _has_rule_and_model(spans):
        return best
    normalized = next((s.normalized for s in spans if s.source == "rule" and s.normalized is not None),
                      best.normalized)
    return ctx.changed(best, score=max(s.score for s in spans), normalized=normalized)


def resolve(spans: list[Span], ctx: MergeContext) -> list[Span]:
    """Non-overlapping spans, deterministically: identical spans become one; within a label
    the longest wins (absorbing the evidence of the spans it contains); across labels the
    priority, then the score, then the length."""
    spans = sort_spans(spans)
    if all(a.end <= b.start for a, b in zip(spans, spans[1:])):
        return spans  # the usual case: nothing to resolve
    by_key: dict[tuple, list[Span]] = {}
    for span in spans:
        by_key.setdefault((span.start, span.end, span.label), []).append(span)
    unique = []
    for group in by_key.values():
        if len(group) > 1:
            ctx.count("combined", len(group) - 1)
        unique.append(_combine(group, ctx) if len(group) > 1 else group[0])

    kept_by_label: dict[str, list[Span]] = {}
    for span in sorted(unique, key=lambda s: (-s.length, -s.score, s.start, s.label, -_SOURCE_ORDER[s.source])):
        kept = kept_by_label.setdefault(span.label, [])
        winner = next((i for i, k in enumerate(kept) if k.overlaps(span)), None)
        if winner is None:
            kept.append(span)
            continue
        ctx.count("dropped_same_label")
        if kept[winner].contains(span) and _has_rule_and_model([kept[winner], span]):
            kept[winner] = ctx.changed(kept[winner], score=max(kept[winner].score, span.score))

    worst = len(ctx.rank)
    result: list[Span] = []
    candidates = [s for kept in kept_by_label.values() for s in kept]
    for span in sorted(candidates, key=lambda s: (ctx.rank.get(s.label, worst), -s.score, -s.length, s.start, s.label)):
        if any(k.overlaps(span) for k in result):
            ctx.count("dropped_other_label")
        else:
            result.append(span)
    return sort_spans(result)


@merge_step("resolve_overlaps")
def resolve_overlaps(spans: list[Span], ctx: MergeContext) -> list[Span]:
    """Same label: longest wins; different labels: label_priority, then score. Deterministic."""
    return resolve(spans, ctx)


@merge_step("restore_fine_labels")
def restore_fine_labels(spans: list[Span], ctx: MergeContext) -> list[Span]:
    """A group span (BODY_MEASUREMENT) takes the fine label (CHEST, WAIST, HIP) of the nearest
    keyword on its left, within fine_label_window characters and not before the end of the
    previous span of the same group (that keyword was its)."""
    fine = ctx.fine_labels
    previous_end: dict[str, int] = {}
    out = []
    for span in sort_spans(spans):
        group = fine.group_of.get(span.label)
        if group is None:
            out.append(span)
            continue
        if span.label == group:
            window_start = max(span.start - ctx.cfg.fine_label_window, previous_end.get(group, 0))
            label = fine.fine_label(ctx.text, group, window_start, span.end)
            if label is not None:
                ctx.count("restored")
                span = ctx.changed(span, label=label)
        previous_end[group] = span.end
        out.append(span)
    return out


# ---------------------------------------------------------------------------- pipeline

class _OffsetMap:
    """Offsets between the original text and its NFC form, for records NFC changed in length."""

    def __init__(self, doc):
        self.to_orig = [doc.to_original(i, i)[0] for i in range(len(doc.norm) + 1)]

    def to_norm(self, span: Span) -> Span:
        start = bisect_right(self.to_orig, span.start) - 1
        end = bisect_left(self.to_orig, span.end)
        return span.with_(start=start, end=end)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        return self.to_orig[start], self.to_orig[end]


def _checked(spans, n: int, source: str, what: str) -> list[Span]:
    out = []
    for span in spans:
        if not isinstance(span, Span):
            raise TypeError(f"merge_spans: {what} must hold Span objects, got {type(span).__name__}: {span!r}")
        if span.end > n:
            raise ValueError(f"merge_spans: {what} span {span!r} ends past the text ({n} characters)")
        # the list a span comes in decides its source
        out.append(span if span.source == source else span.with_(source=source))
    return out


class Merger:
    """A MergeConfig compiled once (tables loaded, steps looked up); call it per record."""

    def __init__(self, cfg: MergeConfig):
        _check_steps(cfg.steps, cfg.step_options)  # steps may have been unregistered since
        self.cfg = cfg
        self.steps = [(name, MERGE_STEPS[name]) for name in cfg.steps]
        self.lexicon = load_lexicon(cfg.lexicon_path)
        self.fine_labels = FineLabels(load_label_groups(cfg.label_groups_path))
        self.rank = {label: i for i, label in enumerate(dict.fromkeys(cfg.label_priority))}

    def __call__(self, text: str, rule_spans, model_spans, stats: Counter | None = None) -> list[Span]:
        if not isinstance(text, str):
            raise TypeError(f"merge_spans: text must be a str, got {type(text).__name__}")
        stats = Counter() if stats is None else stats
        n = len(text)
        spans = _checked(rule_spans, n, "rule", "rule_spans")
        model = _checked(model_spans, n, "model", "model_spans")
        for span in model:
            if span.score < self.cfg.min_model_score:
                stats["input.low_score"] += 1
            else:
                spans.append(span)
        if not spans:
            return []
        # Canonical order first, so that the result never depends on the order of the inputs.
        spans = sort_spans(spans)

        # The steps want NFC (one code point per Vietnamese letter); tone-mark placement does
        # not matter to them (place names and surnames compare without diacritics).
        offsets, norm, originals = None, text, {}
        if not unicodedata.is_normalized("NFC", text):
            doc = make_doc(text)
            norm = doc.norm
            if len(norm) != n:
                offsets = _OffsetMap(doc)
                mapped = [offsets.to_norm(s) for s in spans]
                # Several originals can map to one NFC span (one cuts a letter from its combining
                # mark): keep the first in canonical order, the widest, which covers whole letters.
                for m, s in zip(mapped, spans):
                    originals.setdefault(m, s)
                spans = mapped
        ctx = MergeContext(text=norm, cfg=self.cfg, lexicon=self.lexicon, fine_labels=self.fine_labels,
                           rank=self.rank, stats=stats)
        for name, step in self.steps:
            ctx.step, ctx.options = name, self.cfg.step_options.get(name, {})
            spans = step(spans, ctx)

        ctx.step, ctx.options = "finalize", {}
        spans = self._finalize(spans, ctx, norm)
        if offsets is None:
            return spans
        back = []
        for span in spans:
            original = originals.get(span)
            start, end = (original.start, original.end) if original else offsets.to_original(span.start, span.end)
            # a cluster that NFC left as two characters (a space and a stray mark) maps back
            # as one, so the whitespace rule is checked again on the original
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start >= end:
                ctx.count("dropped_empty")
            elif original is None:
                back.append(span.with_(start=start, end=end))
            elif (start, end) == (original.start, original.end):
                back.append(original)
            else:
                back.append(ctx.changed(original, start=start, end=end))
        return sort_spans(back)

    @staticmethod
    def _finalize(spans: list[Span], ctx: MergeContext, text: str) -> list[Span]:
        """The output contract, whatever the configured steps did."""
        clean = []
        for span in spans:
            if span.end > len(text):
                ctx.count("dropped_out_of_range")
                continue
            start, end = span.start, span.end
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start == end:
                ctx.count("dropped_empty")
                continue
            clean.append(span if (start, end) == (span.start, span.end) else ctx.moved(span, start, end))
        return resolve(clean, ctx)  # sorts; resolves only when something overlaps


_MERGERS: dict[int, Merger] = {}


def merge_spans(text: str, rule_spans: list[Span], model_spans: list[Span], cfg: MergeConfig,
                stats: Counter | None = None) -> list[Span]:
    """Merge one record's rule and model spans; returns sorted, non-overlapping spans whose
    offsets index ``text`` (the original). ``stats``, when given, counts what each step did
    ("split_lists.split", "rule_owned_labels.dropped", ...).

    Raises TypeError/ValueError for spans that are not Span objects or end past the text:
    those are bugs upstream, not data. ``cfg`` is compiled once per config object.
    """
    merger = _MERGERS.get(id(cfg))
    if merger is None or merger.cfg is not cfg:
        if len(_MERGERS) > 16:
            _MERGERS.clear()
        merger = _MERGERS[id(cfg)] = Merger(cfg)
    return merger(text, rule_spans, model_spans, stats)
