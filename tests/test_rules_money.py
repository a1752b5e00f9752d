"""The `money` rule extractor: amounts with a currency or a scale word."""
from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.base import RULE_FACTORIES
from nerlake.udfs.rules.money import build_money
from nerlake.udfs.textnorm import make_doc
from rule_checks import assert_benchmark_targets, assert_generated_records_keep_offsets

BENCHMARK = Path(__file__).parent / "data" / "rules_benchmark" / "money.jsonl"


@pytest.fixture(scope="module")
def money():
    return build_money({})


def found(extractor, text):
    spans = sorted(extractor.extract(make_doc(text, date(2024, 3, 12))), key=lambda s: s.start)
    return [(text[s.start:s.end], s.normalized) for s in spans]


@pytest.mark.parametrize("text, expected", [
    ("Giá 618.000đ nhé", [("618.000đ", "618000 VND")]),
    ("Tổng 618.000 đ chị ơi", [("618.000 đ", "618000 VND")]),
    ("Total 618,000 VND", [("618,000 VND", "618000 VND")]),
    ("thưởng 1,2 triệu", [("1,2 triệu", "1200000 VND")]),
    ("Áo này 1tr2 thôi", [("1tr2", "1200000 VND")]),
    ("cọc 1tr250 nhé", [("1tr250", "1250000 VND")]),
    ("500k một bộ", [("500k", "500000 VND")]),
    ("trà sữa 2k5 thêm topping", [("2k5", "2500 VND")]),
    ("Căn hộ 2 tỷ đồng", [("2 tỷ đồng", "2000000000 VND")]),
    ("Phí ship 3 trăm nghìn", [("3 trăm nghìn", "300000 VND")]),
    ("Đồng hồ 3 triệu 500 nghìn", [("3 triệu 500 nghìn", "3500000 VND")]),
    ("Tài trợ 1 tỷ 200 triệu", [("1 tỷ 200 triệu", "1200000000 VND")]),
    ("hết 1 triệu rưỡi", [("1 triệu rưỡi", "1500000 VND")]),
    ("trả 1 triệu 2 được không", [("1 triệu 2", "1200000 VND")]),
    ("It costs $50 a month", [("$50", "50 USD")]),
    ("Price $1,299.99", [("$1,299.99", "1299.99 USD")]),
    ("Chuyển 50 USD nhé", [("50 USD", "50 USD")]),
    ("USD 1,200 for all", [("USD 1,200", "1200 USD")]),
    ("Vé €20/người", [("€20", "20 EUR")]),
    ("Đã trả 1.250.000 vnđ", [("1.250.000 vnđ", "1250000 VND")]),
    ("Lương 15 triệu đồng/tháng", [("15 triệu đồng", "15000000 VND")]),
    ("Còn 250.000₫", [("250.000₫", "250000 VND")]),
    ("Phí 5 đô một tháng", [("5 đô", "5 USD")]),
    ("Vé tàu 1000 yên", [("1000 yên", "1000 JPY")]),
    ("Tổng 2.5 triệu", [("2.5 triệu", "2500000 VND")]),
    ("Phí 10-15 triệu tùy gói", [("10", "10000000 VND"), ("15 triệu", "15000000 VND")]),
    ("Giá 120.000 - 150.000đ", [("120.000", "120000 VND"), ("150.000đ", "150000 VND")]),
    ("Raised $5 million", [("$5 million", "5000000 USD")]),
    ("Doanh thu 500 nghìn tỷ đồng", [("500 nghìn tỷ đồng", "500000000000000 VND")]),
    ("invest VND 5 trillion", [("VND 5 trillion", "5000000000000 VND")]),
    ("Gửi xe 4,7 tr mỗi tháng", [("4,7 tr", "4700000 VND")]),
    ("toi chuyen 2 trieu dong roi", [("2 trieu dong", "2000000 VND")]),  # without diacritics
    ("giao dịch 900.000 VND 8/2/2024", [("900.000 VND", "900000 VND")]),
    ("giao dịch 400k năm ngoái", [("400k", "400000 VND")]),  # "năm ngoái" dates it, counts no years
    ("giao dich 39,2 tr nam ngoai", [("39,2 tr", "39200000 VND")]),
])
def test_extracts_and_normalises(money, text, expected):
    assert found(money, text) == expected


@pytest.mark.parametrize("text", [
    "Mã đơn 1250000 đang giao",
    "Em chuyển khoản 200.000 rồi",  # a bare number is not money
    "Gọi 0912.345.678",
    "Ngày 12.03.2024 nghỉ",
    "Dân số 9 triệu người",
    "Video đạt 2 triệu lượt xem",
    "Có 5 nghìn người tham dự",
    "1,2 triệu khách mỗi năm",
    "Khoảng 3 nghìn năm trước",
    "2 đồng nghiệp cũng mua",
    "Mua 3 cái đồng hồ",
    "chạy 5k quanh hồ",
    "Màn hình độ phân giải 4k",
    "Cân nặng 55 kg, cao 1m65",
    "Khách đánh giá 5 sao",
    "AirPods 3 k shop?",  # a detached "k" is "không"
    "Sot 39 do roi",  # without diacritics "do" is "độ"
    "Hóa thạch có niên đại 9 triệu năm",  # years
])
def test_not_money(money, text):
    assert found(money, text) == []


@pytest.mark.parametrize("text, expected", [
    ("TỔNG 618.000 ĐỒNG", [("618.000 ĐỒNG", "618000 VND")]),
    ("thưởng 1,2 TRIỆU", [("1,2 TRIỆU", "1200000 VND")]),
    ("Giá 500K", [("500K", "500000 VND")]),
    ("Căn hộ 2 Tỷ Đồng", [("2 Tỷ Đồng", "2000000000 VND")]),
    ("phí Us$50", [("Us$50", "50 USD")]),
    ("50 Usd thôi", [("50 Usd", "50 USD")]),
    ("1 TRIỆU RƯỠI", [("1 TRIỆU RƯỠI", "1500000 VND")]),
])
def test_words_and_codes_in_any_case(money, text, expected):
    # the scanning regex spells its words in both cases instead of running under IGNORECASE
    assert found(money, text) == expected


def test_a_larger_first_number_is_no_range(money):
    assert found(money, "Mẫu 2024 - 500k") == [("500k", "500000 VND")]


def test_offsets_index_the_original_text_when_it_is_decomposed(money):
    text = unicodedata.normalize("NFD", "Giá 1,2 triệu đồng thôi")
    [span] = money.extract(make_doc(text))
    assert unicodedata.normalize("NFC", text[span.start:span.end]) == "1,2 triệu đồng"
    assert (span.label, span.source, span.rule, span.normalized) == ("MONEY", "rule", "money", "1200000 VND")


@pytest.mark.parametrize("options, message", [
    ({"conf_path": 3}, "money.conf_path"),
    ({"verbose": True}, "unknown key rules.options.money.verbose"),
])
def test_bad_options_are_reported(options, message):
    with pytest.raises(ConfigError, match=message):
        build_money(options)


def test_bad_currency_code_is_reported(tmp_path):
    conf = tmp_path / "money.yaml"
    conf.write_text("currencies_after: {đ: dong}\ncurrencies_before: {}\nscales: {k: 1000}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="money.currencies_after"):
        build_money({"conf_path": str(conf)})


def test_registered_under_its_name():
    assert RULE_FACTORIES["money"]({}).labels == ("MONEY",)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(
    ["1", "1.250.000", "618,000", "2,5", "k", "tr", "triệu", "tỷ", "đ", "đồng", "hồ", "$", "€", "USD", "-", "rưỡi",
     "người", "9" * 40, " ", "0,0001"]), st.text(max_size=5)), max_size=12))
def test_never_raises_and_spans_stay_inside_the_text(money, pieces):
    text = " ".join(pieces)
    for span in money.extract(make_doc(text)):
        assert 0 <= span.start < span.end <= len(text)


def test_benchmark_targets(money):
    assert_benchmark_targets(money, BENCHMARK, ("MONEY",))


def test_generated_records_never_raise_and_keep_offsets(money):
    assert_generated_records_keep_offsets(money)
