"""RuleSet: configuration, running all extractors, overlap resolution between rule spans."""
from __future__ import annotations

from datetime import date

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.base import RULE_FACTORIES
from nerlake.udfs.rules.ruleset import ALL_EXTRACTORS, RuleSet, RulesConfig
from nerlake.udfs.spans import Span
from nerlake.udfs.textnorm import make_doc

RULES = RuleSet.from_config(RulesConfig())


def found(text: str, ruleset=RULES, ref_date=date(2024, 3, 12)) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.label) for s in ruleset.extract(make_doc(text, ref_date))]


def test_every_extractor_is_registered_and_enabled_by_default():
    assert set(ALL_EXTRACTORS) <= set(RULE_FACTORIES)
    assert [ex.name for ex in RULES.extractors] == list(ALL_EXTRACTORS)
    assert {"PHONE", "EMAIL", "URL", "ID_NUMBER", "ORDER_CODE", "LICENSE_PLATE", "ORG", "LOC",
            "DATE", "TIME", "DURATION", "MONEY", "QUANTITY"} == set(RULES.labels)


def test_realistic_record():
    text = ("Chào shop, em đặt đơn SPX-HCM-512345678, sđt 0912 345 678, email an.nguyen@gmail.com. "
            "Thanh toán qua Vietcombank, giao về Đà Nẵng giúp em. Xe 43A-567.89 tới lấy hàng.")
    spans = found(text)
    for expected in [("SPX-HCM-512345678", "ORDER_CODE"), ("0912 345 678", "PHONE"),
                     ("an.nguyen@gmail.com", "EMAIL"), ("Vietcombank", "ORG"), ("Đà Nẵng", "LOC"),
                     ("43A-567.89", "LICENSE_PLATE")]:
        assert expected in spans
    assert RULES.error_counts == {}


@pytest.mark.parametrize("text, expected", [
    ("Mã vận đơn SPX-HCM-0912345678", [("SPX-HCM-0912345678", "ORDER_CODE")]),  # not PHONE, not ORG "SPX"
    ("Tra cứu https://donhang.ghn.vn/?order_code=GHN0123456789 nhé",
     [("https://donhang.ghn.vn/?order_code=GHN0123456789", "URL")]),
    ("Nhắn zalo.me/0912345678", [("zalo.me/0912345678", "URL")]),
    ("Liên hệ hotro@vietcombank.com.vn", [("hotro@vietcombank.com.vn", "EMAIL")]),
])
def test_longest_span_wins_across_extractors(text, expected):
    assert [s for s in found(text) if s[1] != "DATE"] == expected


def test_equal_length_overlap_goes_to_the_priority_label():
    rs = RuleSet([], ["ORDER_CODE", "PHONE"])
    a = Span(0, 10, "PHONE", score=0.99, rule="phone")
    b = Span(0, 10, "ORDER_CODE", score=0.5, rule="order_code")
    assert rs.resolve_overlaps([a, b]) == [b]
    assert RuleSet([], ["PHONE", "ORDER_CODE"]).resolve_overlaps([a, b]) == [a]


def test_resolution_is_sorted_non_overlapping_and_keeps_disjoint_spans():
    spans = [Span(20, 25, "LOC"), Span(0, 5, "ORG"), Span(3, 12, "PHONE"), Span(30, 31, "MONEY")]
    out = RULES.resolve_overlaps(spans)
    assert [(s.start, s.label) for s in out] == [(3, "PHONE"), (20, "LOC"), (30, "MONEY")]


def test_restricted_enabled_list_and_options():
    rs = RuleSet.from_config(RulesConfig(enabled=["phone", "email"], options={"phone": {"cue_window": 5}}))
    assert rs.labels == ("PHONE", "EMAIL")
    assert found("Vietcombank 0912345678 a@b.vn", rs) == [("0912345678", "PHONE"), ("a@b.vn", "EMAIL")]


def test_from_dict_validates_like_the_yaml_loader():
    rs = RuleSet.from_config({"enabled": ["url"], "overlap_priority": ["URL"]})
    assert rs.labels == ("URL",)


@pytest.mark.parametrize("data, message", [
    ({"enabled": ["phone", "fax"]}, "unknown extractor 'fax'; allowed: .*phone"),
    ({"options": {"fax": {}}}, "rules.options: unknown extractor 'fax'"),
    ({"enabled": ["phone", "phone"]}, "listed twice"),
    ({"overlap_priority": ["PHONE", "TELEPHONE"]}, "overlap_priority"),
    ({"enable": ["phone"]}, "unknown key rules.enable"),
    ({"options": {"phone": {"cue_windw": 3}}}, "rules.options.phone"),
])
def test_config_errors_name_the_problem(data, message):
    with pytest.raises(ConfigError, match=message):
        RuleSet.from_config(data)


class _Broken:
    name = "broken"
    labels = ("PHONE",)

    def extract(self, doc):
        raise RuntimeError("bug")


def test_a_failing_extractor_is_counted_and_the_others_still_run():
    rs = RuleSet([_Broken(), RULE_FACTORIES["email"]({})], ["EMAIL"])
    spans = rs.extract(make_doc("mail a@b.vn"))
    assert [s.label for s in spans] == ["EMAIL"]
    assert rs.error_counts == {"broken": 1}


MANY_TEXTS = [
    "Anh Nam gọi 0912 345 678 lúc 8h sáng mai, giao đơn SPX-HCM-512345678 tới Quận 1, TP.HCM",
    "Thanh toán 1.250.000đ qua Vietcombank ngày 12/3/2024, mail a.nguyen@gmail.com",
    "hom qua em chuyen 500k cho shop, 3 hop sua size M",
    "CCCD 079201012345 cấp ngày 12/5/2015, xe 51F-123.45, xem shopee.vn/abc",
    "",
    "không có gì",
    "phiên bản 2.10, tỉ số 2-1, 3/5 điểm, ghi chú https://example.com/a?b=1.",
]


@pytest.mark.parametrize("block_records", [1, 3, 512])
def test_extract_many_equals_extract_record_by_record(block_records):
    rs = RuleSet.from_config(RulesConfig())
    rs.BLOCK_RECORDS = block_records
    refs = [date(2024, 3, 12), None]
    docs = [make_doc(text, refs[i % 2]) for i, text in enumerate(MANY_TEXTS * 2)]
    expected = [rs.extract(doc) for doc in docs]
    assert sum(map(len, expected)) > 10
    assert rs.extract_many(docs) == expected
    assert rs.extract_many(iter(docs)) == expected
    assert rs.extract_many([]) == []


def test_extract_many_counts_a_failing_extractor_per_record():
    rs = RuleSet([_Broken(), RULE_FACTORIES["email"]({})], ["EMAIL"])
    results = rs.extract_many([make_doc("mail a@b.vn"), make_doc("no mail"), make_doc("x@y.com")])
    assert [[s.label for s in spans] for spans in results] == [["EMAIL"], [], ["EMAIL"]]
    assert rs.error_counts == {"broken": 3}


class _Interrupting:
    name, labels = "interrupting", ("EMAIL",)

    def extract(self, doc):
        raise KeyboardInterrupt  # not an extractor failure: it ends the batch


@pytest.mark.parametrize("threshold", [(700, 10, 10), (0, 10, 10), (50_000, 5, 5)])
def test_extract_many_restores_the_garbage_collector_settings(threshold):
    import gc

    old = gc.get_threshold()
    try:
        gc.set_threshold(*threshold)
        rs = RuleSet.from_config(RulesConfig())
        assert rs.extract_many([make_doc(text) for text in MANY_TEXTS])
        assert gc.get_threshold() == threshold
        with pytest.raises(KeyboardInterrupt):
            RuleSet([_Interrupting()], ["EMAIL"]).extract_many([make_doc("x")])
        assert gc.get_threshold() == threshold
    finally:
        gc.set_threshold(*old)


def test_overlap_lengths_count_composed_characters():
    import unicodedata

    text = unicodedata.normalize("NFD", "quận 1 ngày")  # "quận 1" is longer than "1 ngày" only in NFD
    doc = make_doc(text)
    loc = Span(0, 8, "LOC")  # "quận 1"
    duration = Span(7, 14, "DURATION")  # "1 ngày"
    rs = RuleSet([], ["DURATION", "LOC"])
    assert rs.resolve_overlaps([loc, duration], doc) == [duration]  # equal length: priority decides
