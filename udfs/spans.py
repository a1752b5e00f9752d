"""The one span type every component produces and consumes.

Offsets always index the ORIGINAL record text (end exclusive), whatever normalisation a
component matched on; ``text == original[start:end]`` is an invariant the tests check.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

SOURCES = ("rule", "model", "merged")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    label: str
    score: float = 1.0
    source: str = "rule"  # one of SOURCES
    normalized: str | None = None  # canonical value (ISO-8601, E.164, ...) or None
    rule: str | None = None  # which extractor or merge step produced it, for debugging

    def __init__(self, start: int, end: int, label: str, score: float = 1.0, source: str = "rule",
                 normalized: str | None = None, rule: str | None = None):
        # Written out rather than generated: a frozen dataclass's own __init__ sets each field
        # through object.__setattr__, and spans are made by the million (the rule stage alone
        # makes about three per record); the slots' own setters take half the time. The rule
        # extractors pass all seven arguments by position: keywords make a call ~30% slower.
        if not 0 <= start < end:
            raise ValueError(f"bad span offsets [{start}, {end})")
        _set_start(self, start)
        _set_end(self, end)
        _set_label(self, label)
        _set_score(self, score)
        _set_source(self, source)
        _set_normalized(self, normalized)
        _set_rule(self, rule)

    @property
    def length(self) -> int:
        return self.end - self.start

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: "Span") -> bool:
        return self.start <= other.start and other.end <= self.end

    def with_(self, **changes) -> "Span":
        return replace(self, **changes)


_set_start, _set_end, _set_label, _set_score, _set_source, _set_normalized, _set_rule = (
    Span.__dict__[f.name].__set__ for f in fields(Span))


def sort_spans(spans) -> list[Span]:
    """Document order; on ties the longer span first (stable and deterministic)."""
    return sorted(spans, key=lambda s: (s.start, -s.end, s.label, -s.score))
