"""Strict mention-level NER evaluation: precision, recall, F1 and error categories.

Scores equal seqeval's strict IOB2 mode (``mode="strict", scheme=IOB2``, default
``zero_division="warn"``) on the same input, per type and micro / macro / weighted:

- A mention is ``(type, start, end)`` with ``end`` exclusive. Only ``B-X`` opens one; it
  takes the ``I-X`` that follow it. An ``I-X`` that does not continue an ``X`` mention
  (``O I-X``, ``B-Y I-X``, ``I-X`` first) belongs to NO mention, it is not repaired into one.
- A prediction is correct only when type, start and end all equal a gold mention's.
- A ratio whose denominator is 0 is 0.0 (seqeval warns and uses 0; we do not warn).
  Macro and weighted averages run over the types seen in gold OR predictions, sorted.
  One deliberate difference: with no mention at all on either side seqeval's macro
  average is NaN (mean of nothing); ours is 0.0, so reports stay valid JSON.

Error categories pair gold mentions with predictions ONE-TO-ONE, within a document, in
passes of falling priority; each pass only looks at mentions no earlier pass paired:

1. ``exact``              same boundaries, same type
2. ``wrong_type``         same boundaries, other type
3. ``boundary``           overlapping, same type, other boundaries
4. ``boundary_and_type``  overlapping, other type, other boundaries

In passes 3 and 4 the pair sharing the most positions goes first (ties in document
order), so a prediction that overlaps several gold mentions pairs with the one it
covers most and the other gold mentions stay free for other predictions. Whatever is
left is ``missing`` (gold) or ``spurious`` (prediction): that includes a gold mention
whose only overlapping prediction was paired with another gold mention, and the second
half of a gold mention the model split in two. Every mention gets exactly one category,
so ``gold = exact + wrong_type + boundary + boundary_and_type + missing`` and
``predicted = exact + wrong_type + boundary + boundary_and_type + spurious`` (MUC's
POS and ACT), and ``exact`` is the micro true-positive count. Paired and ``missing``
categories count under the gold type, ``spurious`` under the predicted type.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from .bio import BIOError

Mention = tuple[str, int, int]  # (type, start, end exclusive): token or character offsets

ERROR_CATEGORIES = ("exact", "wrong_type", "boundary", "boundary_and_type", "missing", "spurious")


# --------------------------------------------------------------------------- mentions

@lru_cache(maxsize=4096)
def _parse_label(label: str) -> tuple[str, str | None]:
    # Cached: a corpus has a handful of distinct labels and millions of tokens.
    if label == "O":
        return "O", None
    if isinstance(label, str) and len(label) > 2 and label[0] in "BI" and label[1] == "-":
        etype = label[2:]
        # seqeval strips '-' from both ends of a type, which would silently merge
        # "B-PER-" with "B-PER"; such a label is a data error here.
        if etype.strip("-") == etype:
            return label[0], etype
    raise BIOError(f"bad BIO label {label!r}: expected O, B-<type> or I-<type>")


def strict_entities(labels) -> set[Mention]:
    """The mentions of one BIO label sequence, read as seqeval's strict IOB2 mode reads it.

    >>> sorted(strict_entities(["B-PER", "I-PER", "I-LOC", "O", "I-ORG", "B-LOC"]))
    [('LOC', 5, 6), ('PER', 0, 2)]
    """
    mentions = set()
    start, etype = None, None  # the open mention, if any
    for i, label in enumerate(labels):
        prefix, label_type = _parse_label(label)
        if start is not None:
            if prefix == "I" and label_type == etype:
                continue
            mentions.add((etype, start, i))
            start = None
        if prefix == "B":
            start, etype = i, label_type
    if start is not None:
        mentions.add((etype, start, len(labels)))
    return mentions


def _attr(span, name: str):
    if isinstance(span, dict):
        if name not in span:
            raise KeyError(name)
        return span[name]
    return getattr(span, name)


def span_mentions(spans, where: str = "spans") -> set[Mention]:
    """``(label, start, end)`` of each ``{"start", "end", "label"}`` mapping (or object with
    those attributes, like :class:`~nerlake.udfs.spans.Span`). Raises ValueError on a
    malformed span and on a repeated one, which would otherwise be counted once."""
    mentions = set()
    for span in spans:
        try:
            start, end, label = _attr(span, "start"), _attr(span, "end"), _attr(span, "label")
        except (KeyError, AttributeError) as exc:
            raise ValueError(f"{where}: span {span!r} has no {exc.args[0]!r}") from None
        if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) \
                or not isinstance(end, int) or not 0 <= start < end:
            raise ValueError(f"{where}: span {span!r} needs integer offsets 0 <= start < end")
        if not isinstance(label, str) or not label:
            raise ValueError(f"{where}: span {span!r} has no label")
        mention = (label, start, end)
        if mention in mentions:
            raise ValueError(f"{where}: span {span!r} is listed twice")
        mentions.add(mention)
    return mentions


# --------------------------------------------------------------------------- error categories

@dataclass(frozen=True, slots=True)
class MentionMatch:
    category: str  # one of ERROR_CATEGORIES
    gold: Mention | None  # None for spurious
    pred: Mention | None  # None for missing


def _position(mention: Mention):
    return mention[1], mention[2], mention[0]


def _overlap(a: Mention, b: Mention) -> int:
    return min(a[2], b[2]) - max(a[1], b[1])


def categorize_mentions(gold, pred) -> list[MentionMatch]:
    """One :class:`MentionMatch` per gold mention and per prediction of ONE document
    (pairs count once), in document order; see the module docstring for the rule."""
    gold = sorted(set(gold), key=_position)
    pred = sorted(set(pred), key=_position)
    free_gold, free_pred = set(gold), set(pred)
    matches = []

    def pair(category, g, p):
        matches.append(MentionMatch(category, g, p))
        free_gold.discard(g)
        free_pred.discard(p)

    for g in gold:
        if g in free_pred:
            pair("exact", g, g)

    by_bounds: dict[tuple[int, int], list[Mention]] = {}
    for p in pred:
        if p in free_pred:
            by_bounds.setdefault((p[1], p[2]), []).append(p)
    for g in gold:
        if g in free_gold and by_bounds.get((g[1], g[2])):
            pair("wrong_type", g, by_bounds[(g[1], g[2])].pop(0))

    overlapping = [(g, p) for g in gold if g in free_gold
                   for p in pred if p in free_pred and _overlap(g, p) > 0]
    for category, same_type in (("boundary", True), ("boundary_and_type", False)):
        candidates = sorted(((g, p) for g, p in overlapping if (g[0] == p[0]) == same_type),
                            key=lambda gp: (-_overlap(*gp), _position(gp[0]), _position(gp[1])))
        for g, p in candidates:
            if g in free_gold and p in free_pred:
                pair(category, g, p)

    matches += [MentionMatch("missing", g, None) for g in gold if g in free_gold]
    matches += [MentionMatch("spurious", None, p) for p in pred if p in free_pred]
    matches.sort(key=lambda m: _position(m.gold or m.pred))
    return matches


# --------------------------------------------------------------------------- scores

@dataclass(frozen=True, slots=True)
class Scores:
    precision: float
    recall: float
    f1: float
    support: int  # gold mentions
    predicted: int
    correct: int

    def to_dict(self) -> dict:
        return {"precision": float(self.precision), "recall": float(self.recall), "f1": float(self.f1),
                "support": self.support, "predicted": self.predicted, "correct": self.correct}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    # Same operation order as seqeval, so the floats come out bit-identical.
    denominator = precision + recall
    return 2 * precision * recall / denominator if denominator else 0.0


def _weighted_mean(values: list[float], weights: list[int]) -> float:
    total = sum(weights)
    return sum(v * w for v, w in zip(values, weights)) / total if total else 0.0


def _scores(correct: int, predicted: int, support: int) -> Scores:
    precision, recall = _ratio(correct, predicted), _ratio(correct, support)
    return Scores(precision, recall, _f1(precision, recall), support, predicted, correct)


@dataclass(frozen=True)
class Report:
    documents: int
    micro: Scores
    macro: Scores  # unweighted mean over per_type
    weighted: Scores  # mean over per_type weighted by support
    per_type: dict[str, Scores]  # sorted by type
    errors: dict[str, int]  # every ERROR_CATEGORIES key
    errors_by_type: dict[str, dict[str, int]]  # type -> category -> count
    type_confusions: dict[str, dict[str, int]]  # gold type -> predicted type -> count, over
    # the wrong_type and boundary_and_type pairs

    def to_dict(self) -> dict:
        """JSON-ready: plain ints and unrounded floats."""
        return {
            "documents": self.documents,
            "micro": self.micro.to_dict(),
            "macro": self.macro.to_dict(),
            "weighted": self.weighted.to_dict(),
            "per_type": {t: s.to_dict() for t, s in self.per_type.items()},
            "errors": dict(self.errors),
            "errors_by_type": {t: dict(c) for t, c in self.errors_by_type.items()},
            "type_confusions": {t: dict(c) for t, c in self.type_confusions.items()},
        }

    def format(self, digits: int = 4) -> str:
        """A seqeval-style table followed by the error categories."""
        names = list(self.per_type) + ["micro avg", "macro avg", "weighted avg"]
        width = max(len(n) for n in names + ["boundary_and_type"])
        row = f"{{:>{width}}}" + f" {{:>9.{digits}f}}" * 3 + " {:>9}"
        lines = [f"{'':>{width}}" + "".join(f" {h:>9}" for h in ("precision", "recall", "f1-score", "support")), ""]
        lines += [row.format(t, s.precision, s.recall, s.f1, s.support) for t, s in self.per_type.items()]
        lines.append("")
        for name, s in (("micro avg", self.micro), ("macro avg", self.macro), ("weighted avg", self.weighted)):
            lines.append(row.format(name, s.precision, s.recall, s.f1, s.support))
        lines += ["", f"{'errors':>{width}}"]
        lines += [f"{c:>{width}} {self.errors[c]:>9}" for c in ERROR_CATEGORIES]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


class Scorer:
    """Accumulates documents one at a time (counts only, so it can also be filled per
    partition and combined with :meth:`merge`); :meth:`report` computes the scores."""

    def __init__(self):
        self.documents = 0
        self.correct: Counter = Counter()  # type -> exact matches
        self.predicted: Counter = Counter()
        self.gold: Counter = Counter()
        self.errors: Counter = Counter()  # (type, category) -> count
        self.confusions: Counter = Counter()  # (gold type, predicted type) -> count

    def add_mentions(self, gold, pred) -> list[MentionMatch]:
        """Score one document's mentions; returns its categorised matches."""
        gold, pred = set(gold), set(pred)
        self.documents += 1
        for etype, _, _ in gold:
            self.gold[etype] += 1
        for etype, _, _ in pred:
            self.predicted[etype] += 1
        matches = categorize_mentions(gold, pred)
        for m in matches:
            if m.category == "exact":
                self.correct[m.gold[0]] += 1
            elif m.category in ("wrong_type", "boundary_and_type"):
                self.confusions[(m.gold[0], m.pred[0])] += 1
            self.errors[((m.gold or m.pred)[0], m.category)] += 1
        return matches

    def add_labels(self, gold_labels, pred_labels, where: str = "sentence") -> list[MentionMatch]:
        if len(gold_labels) != len(pred_labels):
            raise ValueError(f"{where}: {len(gold_labels)} gold labels but {len(pred_labels)} predicted")
        return self.add_mentions(strict_entities(gold_labels), strict_entities(pred_labels))

    def add_spans(self, gold_spans, pred_spans, where: str = "document") -> list[MentionMatch]:
        return self.add_mentions(span_mentions(gold_spans, f"{where} gold"), span_mentions(pred_spans, f"{where} pred"))

    def merge(self, other: "Scorer") -> "Scorer":
        self.documents += other.documents
        for mine, theirs in ((self.correct, other.correct), (self.predicted, other.predicted),
                             (self.gold, other.gold), (self.errors, other.errors),
                             (self.confusions, other.confusions)):
            mine.update(theirs)
        return self

    def report(self) -> Report:
        types = sorted(set(self.gold) | set(self.predicted))
        per_type = {t: _scores(self.correct[t], self.predicted[t], self.gold[t]) for t in types}
        total_gold, total_pred = sum(self.gold.values()), sum(self.predicted.values())
        total_correct = sum(self.correct.values())
        micro = _scores(total_correct, total_pred, total_gold)

        def average(weights: list[int]) -> Scores:
            rows = per_type.values()
            return Scores(_weighted_mean([s.precision for s in rows], weights),
                          _weighted_mean([s.recall for s in rows], weights),
                          _weighted_mean([s.f1 for s in rows], weights), total_gold, total_pred, total_correct)

        errors_by_type = {t: {c: self.errors[(t, c)] for c in ERROR_CATEGORIES} for t in types}
        confusions: dict[str, dict[str, int]] = {}
        for (gold_type, pred_type), n in sorted(self.confusions.items()):
            confusions.setdefault(gold_type, {})[pred_type] = n
        return Report(
            documents=self.documents,
            micro=micro,
            macro=average([1] * len(types)),
            weighted=average([s.support for s in per_type.values()]),
            per_type=per_type,
            errors={c: sum(by[c] for by in errors_by_type.values()) for c in ERROR_CATEGORIES},
            errors_by_type=errors_by_type,
            type_confusions=confusions,
        )


def _check_same_length(gold, pred, what: str) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold {what} but {len(pred)} predicted")


def span_scores(gold: list[list[str]], pred: list[list[str]]) -> Report:
    """Strict scores of BIO label sequences, one gold and one predicted list per sentence."""
    _check_same_length(gold, pred, "sentences")
    scorer = Scorer()
    for i, (gold_labels, pred_labels) in enumerate(zip(gold, pred)):
        scorer.add_labels(gold_labels, pred_labels, where=f"sentence {i}")
    return scorer.report()


def span_scores_from_spans(gold_spans: list[list[dict]], pred_spans: list[list[dict]]) -> Report:
    """Strict scores of character spans ``{"start", "end", "label"}``, one list per document."""
    _check_same_length(gold_spans, pred_spans, "documents")
    scorer = Scorer()
    for i, (gold, pred) in enumerate(zip(gold_spans, pred_spans)):
        scorer.add_spans(gold, pred, where=f"document {i}")
    return scorer.report()
