"""Strict mention-level metrics (udfs/metrics.py), checked against seqeval's strict IOB2 mode."""
from __future__ import annotations

import json
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2, Entities

from nerlake.udfs.bio import BIOError
from nerlake.udfs.examples import bio_from_spans, join_tokens
from nerlake.udfs.metrics import (ERROR_CATEGORIES, MentionMatch, Scorer, categorize_mentions, span_mentions,
                                  span_scores, span_scores_from_spans, strict_entities)
from nerlake.udfs.spans import Span

TYPES = ("PER", "LOC", "ORG")
ALL_LABELS = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]


def seq(text: str) -> list[str]:
    return text.split()


def seqeval_entities(labels: list[str]) -> set:
    return {(e.tag, e.start, e.end) for e in Entities([labels], IOB2).entities[0]}


# --------------------------------------------------------------------------- strict_entities

@pytest.mark.parametrize("labels, expected", [
    ("B-PER I-PER O B-LOC", {("PER", 0, 2), ("LOC", 3, 4)}),
    ("I-PER I-PER", set()),  # no B: not a mention in strict mode
    ("O I-PER B-PER", {("PER", 2, 3)}),
    ("B-PER I-LOC I-LOC", {("PER", 0, 1)}),  # the stray I-LOC run is dropped, not repaired
    ("B-PER I-PER I-LOC I-PER", {("PER", 0, 2)}),  # an I-PER after I-LOC does not continue PER
    ("B-PER B-PER I-PER", {("PER", 0, 1), ("PER", 1, 3)}),
    ("B-PER B-LOC", {("PER", 0, 1), ("LOC", 1, 2)}),
    ("B-ORG I-ORG I-ORG", {("ORG", 0, 3)}),  # closes at the end of the sentence
    ("B-ID-NUMBER I-ID-NUMBER", {("ID-NUMBER", 0, 2)}),  # a '-' inside a type is part of it
    ("", set()),
    ("O O", set()),
])
def test_strict_entities(labels, expected):
    assert strict_entities(seq(labels)) == expected
    assert seqeval_entities(seq(labels)) == expected


@pytest.mark.parametrize("bad", ["X-PER", "B-", "B", "E-PER", "S-PER", "b-PER", "B-PER-", "B--PER", "", None])
def test_strict_entities_rejects_labels_that_are_not_bio(bad):
    with pytest.raises(BIOError, match="bad BIO label"):
        strict_entities(["O", bad])


# --------------------------------------------------------------------------- error categories

def categories(gold, pred) -> list[tuple]:
    return [(m.category, m.gold, m.pred) for m in categorize_mentions(gold, pred)]


@pytest.mark.parametrize("gold, pred, expected", [
    ([("PER", 0, 2)], [("PER", 0, 2)], [("exact", ("PER", 0, 2), ("PER", 0, 2))]),
    ([("PER", 0, 2)], [("ORG", 0, 2)], [("wrong_type", ("PER", 0, 2), ("ORG", 0, 2))]),
    ([("PER", 0, 3)], [("PER", 1, 3)], [("boundary", ("PER", 0, 3), ("PER", 1, 3))]),
    ([("PER", 0, 3)], [("LOC", 2, 5)], [("boundary_and_type", ("PER", 0, 3), ("LOC", 2, 5))]),
    ([("PER", 0, 2)], [("PER", 2, 4)], [("missing", ("PER", 0, 2), None), ("spurious", None, ("PER", 2, 4))]),
    ([], [("LOC", 5, 6)], [("spurious", None, ("LOC", 5, 6))]),
    ([("LOC", 5, 6)], [], [("missing", ("LOC", 5, 6), None)]),
])
def test_each_error_category(gold, pred, expected):
    assert categories(gold, pred) == expected


def test_a_prediction_over_two_gold_mentions_pairs_with_the_one_it_covers_most():
    # gold "Nguyễn Văn An | Hà Nội" as PER(0,3) LOC(3,5); the model tags all five tokens PER.
    assert categories([("PER", 0, 3), ("LOC", 3, 5)], [("PER", 0, 5)]) == [
        ("boundary", ("PER", 0, 3), ("PER", 0, 5)),
        ("missing", ("LOC", 3, 5), None),  # its only overlapping prediction is taken
    ]
    # Largest overlap wins even against document order.
    assert categories([("PER", 0, 1), ("PER", 1, 5)], [("PER", 0, 5)]) == [
        ("missing", ("PER", 0, 1), None),
        ("boundary", ("PER", 1, 5), ("PER", 0, 5)),
    ]


def test_a_gold_mention_split_in_two_leaves_the_smaller_half_spurious():
    assert categories([("ORG", 0, 5)], [("ORG", 0, 3), ("LOC", 3, 5)]) == [
        ("boundary", ("ORG", 0, 5), ("ORG", 0, 3)),
        ("spurious", None, ("LOC", 3, 5)),
    ]


@pytest.mark.parametrize("gold, pred, expected", [
    # same type beats a larger overlap of another type
    ([("PER", 0, 6)], [("LOC", 0, 5), ("PER", 5, 6)],
     [("spurious", None, ("LOC", 0, 5)), ("boundary", ("PER", 0, 6), ("PER", 5, 6))]),
    # same boundaries beat an overlap of the right type
    ([("PER", 0, 3)], [("ORG", 0, 3), ("PER", 1, 2)],
     [("wrong_type", ("PER", 0, 3), ("ORG", 0, 3)), ("spurious", None, ("PER", 1, 2))]),
    # an exact match is taken before anything else can claim the prediction
    ([("PER", 0, 4), ("PER", 1, 2)], [("PER", 1, 2)],
     [("missing", ("PER", 0, 4), None), ("exact", ("PER", 1, 2), ("PER", 1, 2))]),
])
def test_category_priorities(gold, pred, expected):
    assert categories(gold, pred) == expected


def test_nested_gold_spans_each_get_one_category():
    gold = [{"start": 0, "end": 20, "label": "ADDRESS"}, {"start": 14, "end": 20, "label": "LOC"}]
    pred = [{"start": 14, "end": 20, "label": "LOC"}]
    report = span_scores_from_spans([gold], [pred])
    assert report.errors == {"exact": 1, "wrong_type": 0, "boundary": 0, "boundary_and_type": 0,
                             "missing": 1, "spurious": 0}
    assert report.errors_by_type["ADDRESS"]["missing"] == 1


def test_errors_by_type_and_confusions_on_a_small_corpus():
    gold = [seq("B-PER I-PER O B-LOC O"), seq("B-ORG I-ORG I-ORG O O")]
    pred = [seq("B-PER I-PER O B-ORG O"), seq("O B-LOC I-LOC O B-PER")]
    report = span_scores(gold, pred)
    assert report.errors == {"exact": 1, "wrong_type": 1, "boundary": 0, "boundary_and_type": 1,
                             "missing": 0, "spurious": 1}
    assert report.errors_by_type["LOC"] == {"exact": 0, "wrong_type": 1, "boundary": 0, "boundary_and_type": 0,
                                            "missing": 0, "spurious": 0}
    assert report.errors_by_type["PER"]["spurious"] == 1  # counted under the predicted type
    assert report.type_confusions == {"LOC": {"ORG": 1}, "ORG": {"LOC": 1}}


# --------------------------------------------------------------------------- against seqeval

def label_pairs():
    """(gold, pred) sentence lists over 3 types with every invalid transition possible;
    pred copies the gold label about half the time so there are real matches."""
    token = st.tuples(st.sampled_from(ALL_LABELS), st.sampled_from(ALL_LABELS), st.booleans())
    sentence = st.lists(token, max_size=12).map(
        lambda toks: ([g for g, _, _ in toks], [g if keep else p for g, p, keep in toks]))
    return st.lists(sentence, min_size=1, max_size=6).map(
        lambda sents: ([g for g, _ in sents], [p for _, p in sents]))


def assert_close(ours: float, theirs, nan_means_zero: bool = False) -> None:
    if nan_means_zero and math.isnan(theirs):
        assert ours == 0.0  # documented difference: seqeval's mean over no types is NaN
    else:
        assert abs(ours - float(theirs)) <= 1e-12, (ours, theirs)


@settings(max_examples=250, deadline=None)
@given(label_pairs())
def test_scores_equal_seqeval_strict_iob2(pair):
    gold, pred = pair
    report = span_scores(gold, pred)
    no_types = not report.per_type
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on zero division and on the empty macro mean
        expected = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True)
        for average in ("micro", "macro"):
            ours, empty = getattr(report, average), no_types and average == "macro"
            assert_close(ours.precision, precision_score(gold, pred, average=average, mode="strict", scheme=IOB2), empty)
            assert_close(ours.recall, recall_score(gold, pred, average=average, mode="strict", scheme=IOB2), empty)
            assert_close(ours.f1, f1_score(gold, pred, average=average, mode="strict", scheme=IOB2), empty)

    averages = {"micro avg": report.micro, "macro avg": report.macro, "weighted avg": report.weighted}
    assert set(expected) == set(report.per_type) | set(averages)
    for name, ours in {**report.per_type, **averages}.items():
        theirs = expected[name]
        assert ours.support == theirs["support"]
        empty = no_types and name == "macro avg"
        assert_close(ours.precision, theirs["precision"], empty)
        assert_close(ours.recall, theirs["recall"], empty)
        assert_close(ours.f1, theirs["f1-score"], empty)


@settings(max_examples=200, deadline=None)
@given(label_pairs())
def test_every_mention_gets_exactly_one_category(pair):
    gold, pred = pair
    report = span_scores(gold, pred)
    e = report.errors
    paired = e["exact"] + e["wrong_type"] + e["boundary"] + e["boundary_and_type"]
    assert paired + e["missing"] == report.micro.support
    assert paired + e["spurious"] == report.micro.predicted
    assert e["exact"] == report.micro.correct
    for g, p in zip(gold, pred):
        for m in categorize_mentions(strict_entities(g), strict_entities(p)):
            assert m.category == expected_category(m.gold, m.pred)


def expected_category(gold, pred) -> str:
    """The category definitions, read directly off one pair."""
    if pred is None:
        return "missing"
    if gold is None:
        return "spurious"
    assert min(gold[2], pred[2]) > max(gold[1], pred[1]), "paired mentions must overlap"
    same_type, same_bounds = gold[0] == pred[0], gold[1:] == pred[1:]
    if same_bounds:
        return "exact" if same_type else "wrong_type"
    return "boundary" if same_type else "boundary_and_type"


# --------------------------------------------------------------------------- span API

@st.composite
def span_documents(draw):
    """Documents of equal-length tokens (so character overlap ranks pairs exactly as token
    overlap does) with random non-overlapping gold and predicted spans on token bounds."""
    n_tokens = draw(st.integers(0, 14))
    tokens = [f"t{i % 10}" for i in range(n_tokens)]
    text, offsets = join_tokens(tokens)

    def spans():
        cuts = sorted(draw(st.sets(st.integers(0, n_tokens), max_size=8)))
        out = []
        for a, b in zip(cuts, cuts[1:]):
            if draw(st.booleans()):
                out.append({"start": offsets[a][0], "end": offsets[b - 1][1], "label": draw(st.sampled_from(TYPES))})
        return out

    return text, [(t, s, e) for t, (s, e) in zip(tokens, offsets)], spans(), spans()


@settings(max_examples=200, deadline=None)
@given(st.lists(span_documents(), min_size=1, max_size=5))
def test_span_api_equals_token_api_on_the_same_spans_as_bio(documents):
    gold_bio = [bio_from_spans(text, gold, tokens)[1] for text, tokens, gold, _ in documents]
    pred_bio = [bio_from_spans(text, pred, tokens)[1] for text, tokens, _, pred in documents]
    from_spans = span_scores_from_spans([d[2] for d in documents], [d[3] for d in documents])
    assert from_spans.to_dict() == span_scores(gold_bio, pred_bio).to_dict()


def test_span_api_accepts_span_objects():
    gold = [[Span(0, 5, "PER"), Span(10, 12, "LOC")]]
    pred = [[{"start": 0, "end": 5, "label": "PER"}]]
    report = span_scores_from_spans(gold, pred)
    assert (report.micro.precision, report.micro.recall) == (1.0, 0.5)


@pytest.mark.parametrize("span, message", [
    ({"start": 0, "label": "PER"}, "has no 'end'"),
    ({"start": 3, "end": 3, "label": "PER"}, "0 <= start < end"),
    ({"start": -1, "end": 3, "label": "PER"}, "0 <= start < end"),
    ({"start": 0.0, "end": 3, "label": "PER"}, "integer offsets"),
    ({"start": True, "end": 3, "label": "PER"}, "integer offsets"),
    ({"start": 0, "end": 3, "label": ""}, "no label"),
    ({"start": 0, "end": 3, "label": None}, "no label"),
])
def test_bad_spans_raise_naming_the_document(span, message):
    with pytest.raises(ValueError, match=message) as excinfo:
        span_scores_from_spans([[], [span]], [[], []])
    assert "document 1 gold" in str(excinfo.value)


def test_a_repeated_span_raises_instead_of_counting_once():
    span = {"start": 0, "end": 3, "label": "PER"}
    with pytest.raises(ValueError, match="listed twice"):
        span_mentions([span, dict(span)])


@pytest.mark.parametrize("gold, pred, message", [
    ([seq("O O")], [seq("O O"), seq("O")], "1 gold sentences but 2 predicted"),
    ([seq("O O")], [seq("O")], "sentence 0: 2 gold labels but 1 predicted"),
])
def test_inconsistent_lengths_raise(gold, pred, message):
    with pytest.raises(ValueError, match=message):
        span_scores(gold, pred)


def test_inconsistent_document_counts_raise():
    with pytest.raises(ValueError, match="2 gold documents but 1 predicted"):
        span_scores_from_spans([[], []], [[]])


# --------------------------------------------------------------------------- report

def test_to_dict_is_json_ready_and_unrounded():
    gold = [seq("B-PER O B-PER O B-PER")]
    pred = [seq("B-PER O O O O")]
    data = span_scores(gold, pred).to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["micro"]["recall"] == 1 / 3
    assert data["per_type"]["PER"] == {"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "support": 3,
                                       "predicted": 1, "correct": 1}
    assert set(data["errors"]) == set(ERROR_CATEGORIES)


def test_no_mentions_at_all_scores_zero():
    data = span_scores([seq("O O")], [seq("O O")]).to_dict()
    assert data["micro"]["f1"] == data["macro"]["f1"] == data["weighted"]["f1"] == 0.0
    assert data["per_type"] == {}


def test_format_rounds_only_for_printing():
    report = span_scores([seq("B-PER B-PER B-PER")], [seq("B-PER O O")])
    text = report.format(digits=3)
    assert ["PER", "1.000", "0.333", "0.500", "3"] in [line.split() for line in text.splitlines()]
    assert ["missing", "2"] in [line.split() for line in text.splitlines()]
    assert report.micro.recall == 1 / 3


def test_merged_scorers_equal_one_scorer():
    gold = [seq("B-PER I-PER O B-LOC"), seq("B-ORG O"), seq("O I-LOC B-LOC")]
    pred = [seq("B-PER O O B-LOC"), seq("B-ORG O"), seq("B-LOC I-LOC O")]
    left, right = Scorer(), Scorer()
    for g, p in zip(gold[:1], pred[:1]):
        left.add_labels(g, p)
    for g, p in zip(gold[1:], pred[1:]):
        right.add_labels(g, p)
    assert left.merge(right).report() == span_scores(gold, pred)


def test_add_labels_returns_the_document_matches():
    matches = Scorer().add_labels(seq("B-PER I-PER"), seq("B-PER O"))
    assert matches == [MentionMatch("boundary", ("PER", 0, 2), ("PER", 0, 1))]
