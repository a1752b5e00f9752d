"""BIO validation and repair (udfs/bio.py), checked against SeqScore's semantics and seqeval."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities

from nerlake.udfs.bio import (BIOError, RepairReport, io_to_bio, is_valid_bio, parse_label, repair_bio,
                              repair_examples, token_spans, validate_bio)
from nerlake.udfs.examples import Example


def seq(text: str) -> list[str]:
    return text.split()


def kinds(labels: str) -> list[tuple[int, str]]:
    return [(issue.index, issue.kind) for issue in validate_bio(seq(labels))]


@pytest.mark.parametrize("labels, expected", [
    ("O I-PER", [(1, "I_after_O")]),
    ("B-PER I-LOC", [(1, "I_after_other_type")]),
    ("I-PER I-PER O", [(0, "I_at_start")]),
    ("O I-ORG I-ORG", [(1, "I_after_O")]),  # the continuation itself is a valid transition
    ("B-PER I-PER I-LOC I-PER", [(2, "I_after_other_type"), (3, "I_after_other_type")]),
    ("I-PER O I-LOC B-ORG I-PER", [(0, "I_at_start"), (2, "I_after_O"), (4, "I_after_other_type")]),
    ("B-PER I-PER O B-LOC B-LOC I-LOC", []),
    ("O O", []),
    ("", []),
])
def test_validate_names_each_invalid_transition(labels, expected):
    assert kinds(labels) == expected
    assert is_valid_bio(seq(labels)) == (not expected)


@pytest.mark.parametrize("labels, begin, discard", [
    ("O I-PER", "O B-PER", "O O"),
    ("B-PER I-LOC", "B-PER B-LOC", "B-PER O"),
    ("I-PER", "B-PER", "O"),
    ("I-PER I-PER O", "B-PER I-PER O", "O O O"),
    ("O I-ORG I-ORG O", "O B-ORG I-ORG O", "O O O O"),
    ("B-PER I-LOC I-LOC", "B-PER B-LOC I-LOC", "B-PER O O"),
    ("B-PER I-LOC I-PER", "B-PER B-LOC B-PER", "B-PER O O"),
    ("B-LOC I-LOC O I-LOC B-LOC", "B-LOC I-LOC O B-LOC B-LOC", "B-LOC I-LOC O O B-LOC"),
    ("B-PER I-PER O B-LOC B-LOC I-LOC", "B-PER I-PER O B-LOC B-LOC I-LOC", "B-PER I-PER O B-LOC B-LOC I-LOC"),
])
def test_repair_methods(labels, begin, discard):
    assert repair_bio(seq(labels), "begin") == seq(begin)
    assert repair_bio(seq(labels), "discard") == seq(discard)


def test_repair_does_not_modify_its_input():
    labels = seq("O I-PER")
    repair_bio(labels, "discard")
    assert labels == ["O", "I-PER"]


def test_unknown_repair_method_is_refused():
    with pytest.raises(ValueError, match="begin, discard"):
        repair_bio(["O"], "conlleval")


@pytest.mark.parametrize("bad", ["B-", "I-", "X-PER", "E-PER", "S-LOC", "o", "", "PER", "B_PER"])
def test_bad_labels_raise(bad):
    with pytest.raises(BIOError, match="bad BIO label"):
        parse_label(bad)
    with pytest.raises(BIOError):
        validate_bio(["O", bad])


@pytest.mark.parametrize("labels, expected", [
    ("I-PER I-PER O I-LOC", "B-PER I-PER O B-LOC"),
    # a change of type inside a run starts a new entity
    ("I-ORG I-ORG I-LOC I-LOC", "B-ORG I-ORG B-LOC I-LOC"),
    # IOB1: B- marks a same-type entity right after another, and stays
    ("I-PER I-PER B-PER I-PER", "B-PER I-PER B-PER I-PER"),
    # IO cannot split touching same-type entities: "Oslo Norway" is ONE location
    ("O I-LOC I-LOC O", "O B-LOC I-LOC O"),
    ("O O", "O O"),
])
def test_io_to_bio(labels, expected):
    out = io_to_bio(seq(labels))
    assert out == seq(expected)
    assert is_valid_bio(out)


@pytest.mark.parametrize("labels, spans", [
    ("B-PER I-PER O B-LOC", [(0, 2, "PER"), (3, 4, "LOC")]),
    ("O I-PER I-PER B-PER", [(1, 3, "PER"), (3, 4, "PER")]),
    ("B-PER I-LOC", [(0, 1, "PER"), (1, 2, "LOC")]),
    ("O", []),
])
def test_token_spans_read_leniently(labels, spans):
    assert token_spans(seq(labels)) == spans


# --------------------------------------------------------------------------- properties

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"]
label_seqs = st.lists(st.sampled_from(TAGS), max_size=14)


@settings(max_examples=300, deadline=None)
@given(label_seqs)
def test_repaired_sequences_are_valid_and_valid_ones_unchanged(labels):
    for method in ("begin", "discard"):
        repaired = repair_bio(labels, method)
        assert validate_bio(repaired) == []
        assert repair_bio(repaired, method) == repaired
    if is_valid_bio(labels):
        assert repair_bio(labels, "begin") == labels == repair_bio(labels, "discard")


@settings(max_examples=300, deadline=None)
@given(label_seqs)
def test_repairs_agree_with_seqeval(labels):
    # seqeval's default (lenient, conlleval) decoding keeps every chunk: that is "begin"
    lenient = [(t, s, e + 1) for t, s, e in get_entities(labels)]
    assert sorted(lenient) == sorted((t, s, e) for s, e, t in token_spans(repair_bio(labels, "begin")))
    assert len(token_spans(labels)) == len(lenient)
    # seqeval's strict IOB2 mode keeps only chunks opened by B-: that is "discard"
    strict = [(t, s, e) for _, t, s, e in (x.to_tuple() for x in Entities([labels], IOB2).entities[0])]
    assert sorted(strict) == sorted((t, s, e) for s, e, t in token_spans(repair_bio(labels, "discard")))


# --------------------------------------------------------------------------- report

def test_report_counts_per_split():
    report = RepairReport("discard")
    report.repair("ds", "train", seq("O I-PER I-PER"))
    report.repair("ds", "train", seq("B-PER I-LOC O"))
    report.repair("ds", "train", seq("B-LOC I-LOC"))
    report.repair("ds", "dev", seq("I-ORG"))
    train, dev = report.stats[("ds", "train")], report.stats[("ds", "dev")]
    assert (train.sentences, train.tokens, train.repaired_sentences) == (3, 8, 2)
    assert train.entities_before == {"PER": 2, "LOC": 2}
    assert train.entities_after == {"PER": 1, "LOC": 1}
    assert train.invalid == {"I_after_O": 1, "I_after_other_type": 1}
    assert train.labels_seen == {"O": 2, "I-PER": 2, "B-PER": 1, "I-LOC": 2, "B-LOC": 1}
    assert dev.invalid == {"I_at_start": 1} and dev.entities_after == {}
    rows = {r["split"]: r for r in report.rows()}
    assert rows["train"]["entities_before"] == 4 and rows["train"]["entities_after"] == 2
    assert rows["dev"]["invalid_I_at_start"] == 1
    text = report.format()
    assert text.splitlines()[0].split()[:2] == ["dataset", "split"] and len(text.splitlines()) == 3


def test_report_begin_keeps_every_entity():
    report = RepairReport("begin")
    assert report.repair("ds", "train", seq("O I-PER B-PER I-LOC")) == seq("O B-PER B-PER B-LOC")
    st_ = report.stats[("ds", "train")]
    assert st_.entities_before == st_.entities_after == {"PER": 2, "LOC": 1}


def test_reports_merge():
    a, b = RepairReport("begin"), RepairReport("begin")
    a.repair("ds", "train", seq("O I-PER"))
    b.repair("ds", "train", seq("B-LOC"))
    b.repair("other", "dev", seq("O"))
    a.merge(b)
    assert a.stats[("ds", "train")].sentences == 2
    assert a.stats[("ds", "train")].entities_after == {"PER": 1, "LOC": 1}
    assert a.stats[("other", "dev")].sentences == 1
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(RepairReport("discard"))


def test_repair_examples_recomputes_spans():
    ex = Example("ds", "train", "ds:train:0", "en", "web", ["Mr", "Ba", "came"], ["O", "I-PER", "O"])
    assert ex.spans == [{"start": 3, "end": 5, "label": "PER"}]  # Example reads leniently
    report = RepairReport("discard")
    (out,) = repair_examples([ex], "discard", report)
    assert out.labels == ["O", "O", "O"] and out.spans == []
    assert out.text == ex.text and out.offsets == ex.offsets and out.example_id == ex.example_id
    assert report.stats[("ds", "train")].invalid == {"I_after_O": 1}
    (same,) = repair_examples([ex], "begin")
    assert same.labels == ["O", "B-PER", "O"] and same.spans == ex.spans
    with pytest.raises(ValueError, match="report uses method"):
        list(repair_examples([ex], "begin", report))
