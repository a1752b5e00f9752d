"""The span type: validated offsets, immutability, defaults, copies with changes."""
from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from nerlake.udfs.spans import Span, sort_spans


def test_init_takes_the_fields_in_order_with_their_defaults():
    params = list(inspect.signature(Span.__init__).parameters.values())[1:]
    assert [p.name for p in params] == [f.name for f in dataclasses.fields(Span)]
    assert [p.default for p in params if p.default is not p.empty] == [
        f.default for f in dataclasses.fields(Span) if f.default is not dataclasses.MISSING]


def test_fields_are_set_positionally_and_by_keyword():
    span = Span(3, 10, "PHONE", 0.9, "rule", "+84912345678", "phone")
    assert (span.start, span.end, span.label, span.score, span.source, span.normalized, span.rule) == (
        3, 10, "PHONE", 0.9, "rule", "+84912345678", "phone")
    assert Span(3, 10, "PHONE", score=0.9, normalized="+84912345678", rule="phone") == span
    assert Span(0, 1, "LOC") == Span(0, 1, "LOC", 1.0, "rule", None, None)


@pytest.mark.parametrize("start, end", [(3, 3), (5, 2), (-1, 4)])
def test_bad_offsets_are_refused(start, end):
    with pytest.raises(ValueError, match="bad span offsets"):
        Span(start, end, "LOC")


def test_spans_are_frozen_hashable_and_picklable():
    span = Span(1, 4, "ORG", 0.5, "model")
    with pytest.raises(dataclasses.FrozenInstanceError):
        span.start = 0
    assert hash(span) == hash(Span(1, 4, "ORG", 0.5, "model")) and len({span, Span(1, 4, "ORG", 0.5, "model")}) == 1
    assert pickle.loads(pickle.dumps(span)) == span


def test_with_copies_and_validates():
    span = Span(1, 4, "ORG")
    assert span.with_(end=6) == Span(1, 6, "ORG") and span.end == 4
    with pytest.raises(ValueError):
        span.with_(end=1)


def test_sort_spans_is_document_order_longer_first():
    spans = [Span(5, 6, "LOC"), Span(0, 2, "PER"), Span(0, 4, "ORG")]
    assert sort_spans(spans) == [Span(0, 4, "ORG"), Span(0, 2, "PER"), Span(5, 6, "LOC")]
