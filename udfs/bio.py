"""BIO validation and repair, with the semantics of SeqScore (Palen-Michel et al., 2021).

A BIO label is ``O``, ``B-<type>`` or ``I-<type>``. A sequence is read as if preceded by
``O``; the only invalid transitions are into an ``I-X`` that does not continue an ``X``
entity. :func:`validate_bio` names each one by kind, looking at the ORIGINAL previous label
(as ``seqscore validate`` does):

- ``I_at_start``         ``I-X`` on the first token
- ``I_after_O``          ``O I-X``
- ``I_after_other_type`` ``B-Y I-X`` or ``I-Y I-X`` with ``Y != X``

:func:`repair_bio` walks left to right and judges each label against the previous
REPAIRED label (as ``seqscore repair`` does), so one method decides a whole broken run:

- ``begin`` (SeqScore's ``conlleval``): an invalid ``I-X`` starts a new entity, ``B-X``.
  ``O I-PER I-PER`` -> ``O B-PER I-PER``; ``B-PER I-LOC`` -> ``B-PER B-LOC``.
- ``discard``: an invalid ``I-X`` becomes ``O``, and so do the ``I-X`` that continue it
  (they now follow an ``O``). ``O I-PER I-PER`` -> ``O O O``; ``B-PER I-LOC I-LOC`` -> ``B-PER O O``.

Entities are counted the lenient (conlleval, seqeval default) way: every ``B-`` and every
invalid ``I-`` opens one, so the count of a raw sequence equals its count after ``begin``.

IO files (WikiGold, SEC filings: only ``I-X`` and ``O``) and IOB1 files (``B-X`` only where
two same-type entities touch) become BIO with :func:`io_to_bio`. IO cannot separate two
adjacent entities of the same type: ``I-PER I-PER`` for "Anna Ben" may be one person or two,
and it always becomes one.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

REPAIR_METHODS = ("begin", "discard")
ISSUE_KINDS = ("I_at_start", "I_after_O", "I_after_other_type")


class BIOError(ValueError):
    """A label that is neither ``O`` nor ``B-<type>`` / ``I-<type>``."""


def parse_label(label: str) -> tuple[str, str | None]:
    """``("O", None)``, ``("B", type)`` or ``("I", type)``; anything else raises :class:`BIOError`."""
    if label == "O":
        return "O", None
    if isinstance(label, str) and len(label) > 2 and label[1] == "-" and label[0] in "BI":
        return label[0], label[2:]
    raise BIOError(f"bad BIO label {label!r}: expected O, B-<type> or I-<type>")


@dataclass(frozen=True, slots=True)
class BioIssue:
    index: int  # token position of the invalid I- label
    kind: str  # one of ISSUE_KINDS
    previous: str  # the label before it ("O" at the start)
    label: str


def validate_bio(labels: list[str]) -> list[BioIssue]:
    """Every invalid transition of ``labels`` (empty when valid). Bad labels raise :class:`BIOError`."""
    issues = []
    prev_type = None  # type of the entity the previous label belongs to, None after O
    prev_label = "O"
    for i, label in enumerate(labels):
        state, etype = parse_label(label)
        if state == "I" and etype != prev_type:
            if i == 0:
                kind = "I_at_start"
            elif prev_type is None:
                kind = "I_after_O"
            else:
                kind = "I_after_other_type"
            issues.append(BioIssue(i, kind, prev_label, label))
        prev_type, prev_label = etype, label
    return issues


def is_valid_bio(labels: list[str]) -> bool:
    return not validate_bio(labels)


def repair_bio(labels: list[str], method: str = "begin") -> list[str]:
    """A new list where every invalid ``I-X`` is repaired by ``method`` (see the module doc)."""
    if method not in REPAIR_METHODS:
        raise ValueError(f"unknown BIO repair method {method!r}; choose one of {', '.join(REPAIR_METHODS)}")
    out = list(labels)
    prev_type = None  # judged on the repaired labels, as SeqScore does
    for i, label in enumerate(out):
        state, etype = parse_label(label)
        if state == "I" and etype != prev_type:
            if method == "begin":
                out[i] = "B-" + etype
            else:
                out[i], etype = "O", None
        prev_type = etype
    return out


def token_spans(labels: list[str]) -> list[tuple[int, int, str]]:
    """Entities as ``(first token, end token exclusive, type)``, read leniently (an invalid
    ``I-X`` opens a new entity, like conlleval and seqeval's default mode)."""
    spans = []
    start, cur = 0, None
    for i, label in enumerate(labels):
        state, etype = parse_label(label)
        if state == "I" and etype == cur:
            continue
        if cur is not None:
            spans.append((start, i, cur))
        start, cur = i, etype  # etype is None for O
    if cur is not None:
        spans.append((start, len(labels), cur))
    return spans


def io_to_bio(labels: list[str]) -> list[str]:
    """IO or IOB1 labels as BIO: the first ``I-X`` of a run becomes ``B-X``; an IOB1 ``B-X``
    (a new entity right after another ``X``) stays ``B-X``. A run of ``I-X`` is ONE entity:
    IO cannot mark where two touching same-type entities meet."""
    out = []
    prev_type = None
    for label in labels:
        state, etype = parse_label(label)
        if state == "I" and etype != prev_type:
            label = "B-" + etype
        out.append(label)
        prev_type = etype
    return out


# --------------------------------------------------------------------------- reporting

@dataclass
class RepairStats:
    """What one dataset split looked like before and after repair."""
    sentences: int = 0
    tokens: int = 0
    repaired_sentences: int = 0
    entities_before: Counter = field(default_factory=Counter)  # type -> count, lenient reading
    entities_after: Counter = field(default_factory=Counter)
    invalid: Counter = field(default_factory=Counter)  # issue kind -> count
    labels_seen: Counter = field(default_factory=Counter)  # raw label -> tokens

    def merge(self, other: "RepairStats") -> None:
        self.sentences += other.sentences
        self.tokens += other.tokens
        self.repaired_sentences += other.repaired_sentences
        for name in ("entities_before", "entities_after", "invalid", "labels_seen"):
            getattr(self, name).update(getattr(other, name))


@dataclass
class RepairReport:
    """Repair counts per ``(dataset, split)``. Reports built on separate partitions combine
    with :meth:`merge`; :meth:`rows` gives one flat dict per split for a table."""
    method: str = "begin"
    stats: dict[tuple[str, str], RepairStats] = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in REPAIR_METHODS:
            raise ValueError(f"unknown BIO repair method {self.method!r}; choose one of {', '.join(REPAIR_METHODS)}")

    def split(self, dataset: str, split: str) -> RepairStats:
        return self.stats.setdefault((dataset, split), RepairStats())

    def repair(self, dataset: str, split: str, labels: list[str]) -> list[str]:
        """``labels`` repaired with the report's method, counted under ``(dataset, split)``."""
        st = self.split(dataset, split)
        issues = validate_bio(labels)
        repaired = repair_bio(labels, self.method) if issues else list(labels)
        st.sentences += 1
        st.tokens += len(labels)
        st.labels_seen.update(labels)
        if issues:
            st.repaired_sentences += 1
            st.invalid.update(issue.kind for issue in issues)
        st.entities_before.update(t for _, _, t in token_spans(labels))
        st.entities_after.update(t for _, _, t in token_spans(repaired))
        return repaired

    def merge(self, other: "RepairReport") -> "RepairReport":
        if other.method != self.method:
            raise ValueError(f"cannot merge a {other.method!r} repair report into a {self.method!r} one")
        for key, st in other.stats.items():
            self.split(*key).merge(st)
        return self

    def rows(self) -> list[dict]:
        rows = []
        for (dataset, split), st in sorted(self.stats.items()):
            rows.append({
                "dataset": dataset, "split": split, "method": self.method,
                "sentences": st.sentences, "tokens": st.tokens, "repaired_sentences": st.repaired_sentences,
                "entities_before": sum(st.entities_before.values()),
                "entities_after": sum(st.entities_after.values()),
                **{f"invalid_{kind}": st.invalid[kind] for kind in ISSUE_KINDS},
                "entities_before_by_type": dict(sorted(st.entities_before.items())),
                "entities_after_by_type": dict(sorted(st.entities_after.items())),
                "labels_seen": dict(sorted(st.labels_seen.items())),
            })
        return rows

    def format(self) -> str:
        """A plain-text table, one line per split."""
        head = ("dataset", "split", "sents", "tokens", "ents_before", "ents_after",
                "I_at_start", "I_after_O", "I_after_other", "types")
        lines = [head]
        for r in self.rows():
            lines.append((r["dataset"], r["split"], r["sentences"], r["tokens"], r["entities_before"],
                          r["entities_after"], r["invalid_I_at_start"], r["invalid_I_after_O"],
                          r["invalid_I_after_other_type"], len(r["entities_before_by_type"])))
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
        return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines)


def repair_examples(examples, method: str = "begin", report: RepairReport | None = None):
    """Yield each ``Example`` with repaired labels (spans recomputed); counts go to ``report``
    (a new one per call when None: pass one in to read the counts)."""
    report = report if report is not None else RepairReport(method)
    if report.method != method:
        raise ValueError(f"report uses method {report.method!r}, not {method!r}")
    for ex in examples:
        repaired = report.repair(ex.dataset, ex.split, ex.labels)
        if repaired == ex.labels:
            yield ex
        else:
            # spans=[] makes Example recompute them from the repaired labels
            yield dataclasses.replace(ex, labels=repaired, spans=[])
