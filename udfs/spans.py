"""The one span type every component produces and consumes.

Offsets always index the ORIGINAL record text (end exclusive), whatever normalisation a
component matched on; ``text == original[start:end]`` is an invariant the tests check.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

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

    def __post_init__(self):
        if not 0 <= self.start < self.end:
            raise ValueError(f"bad span offsets [{self.start}, {self.end})")

    @property
    def length(self) -> int:
        return self.end - self.start

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: "Span") -> bool:
        return self.start <= other.start and other.end <= self.end

    def with_(self, **changes) -> "Span":
        return replace(self, **changes)


def sort_spans(spans) -> list[Span]:
    """Document order; on ties the longer span first (stable and deterministic)."""
    return sorted(spans, key=lambda s: (s.start, -s.end, s.label, -s.score))
