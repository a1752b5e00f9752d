"""The `quantity` rule extractor: measured quantities, product counts, clothing sizes."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.base import RULE_FACTORIES
from nerlake.udfs.rules.quantity import build_quantity
from nerlake.udfs.textnorm import make_doc
from rule_checks import assert_benchmark_targets, assert_generated_records_keep_offsets

BENCHMARK = Path(__file__).parent / "data" / "rules_benchmark" / "quantity.jsonl"


@pytest.fixture(scope="module")
def quantity():
    return build_quantity({})


def found(extractor, text):
    return [(text[s.start:s.end], s.normalized) for s in extractor.extract(make_doc(text))]


@pytest.mark.parametrize("text, expected", [
    ("Tấm kính 2,16 m", [("2,16 m", "2.16 m")]),
    ("Vải khổ 1.2m", [("1.2m", "1.2 m")]),
    ("Em nặng 55 kg", [("55 kg", "55 kg")]),
    ("Em cao 1m65", [("1m65", "1.65 m")]),
    ("Bé cao 1m6", [("1m6", "1.6 m")]),
    ("Đặt 3 hộp sữa", [("3 hộp", "3 hộp")]),
    ("Thêm 2 thùng nước", [("2 thùng", "2 thùng")]),
    ("Lấy size M nhé", [("size M", "size M")]),
    ("Giày Size 39", [("Size 39", "size 39")]),
    ("áo size xl", [("size xl", "size XL")]),
    ("Áo M size còn không", [("M size", "size M")]),
    ("còn size 3XL màu đen không", [("size 3XL", "size 3XL")]),
    ("giày size 39,5", [("size 39,5", "size 39.5")]),
    ("Chai 500ml", [("500ml", "500 ml")]),
    ("Vòng ngực 86cm", [("86cm", "86 cm")]),
    ("Xuất 1.500 kg", [("1.500 kg", "1500 kg")]),
    ("Căn hộ 75m2", [("75m2", "75 m²")]),
    ("Phòng 8m2", [("8m2", "8 m²")]),  # "Nm2" with N > 1 is an area, not "N.2 m"
    ("Đất 120 mét vuông", [("120 mét vuông", "120 m²")]),
    ("Sốt 38,5°C", [("38,5°C", "38.5 °C")]),
    ("Huyết áp 120/80 mmHg", [("120/80 mmHg", "120/80 mmHg")]),
    ("Chạy 100 km/h", [("100 km/h", "100 km/h")]),
    ("Pin 5000mAh, 128GB", [("5000mAh", "5000 mAh"), ("128GB", "128 GB")]),
    ("Kính 2,16 m * 1,2 m", [("2,16 m", "2.16 m"), ("1,2 m", "1.2 m")]),
    ("Kích thước 2,16 x 1,2 m", [("2,16", "2.16 m"), ("1,2 m", "1.2 m")]),
    ("Thùng 30x40x50 cm", [("30", "30 cm"), ("40", "40 cm"), ("50 cm", "50 cm")]),
    ("Gói 3 x 500ml", [("500ml", "500 ml")]),  # three bottles, not three ml
    ("Xi măng 50kg x 20 bao", [("50kg", "50 kg"), ("20 bao", "20 bao")]),
    ("Mua 2 đôi giày, 1 chiếc áo size L", [("2 đôi", "2 đôi"), ("1 chiếc", "1 chiếc"), ("size L", "size L")]),
    ("kích thước 46cmx2,07m", [("46cm", "46 cm"), ("2,07m", "2.07 m")]),
    ("Áo Free size", [("Free size", "size FREE")]),
    ("lấy 20 cartons", [("20 cartons", "20 cartons")]),
    ("minh lay 3 hop sua, 2 chai nuoc", [("3 hop", "3 hop"), ("2 chai", "2 chai")]),  # without diacritics
    ("nang 38,6 do C", [("38,6 do C", "38.6 °C")]),
    ("nhập 999.999 cái", [("999.999 cái", "999999 cái")]),  # six digits still count
    ("mặc size 3XL được không", [("size 3XL", "size 3XL")]),
    # every size word, in either case (each is looked for by its tail before the size scan)
    ("giày cỡ 39 nhé", [("cỡ 39", "size 39")]),
    ("ÁO SIZE L", [("SIZE L", "size L")]),
    ("lấy sz M", [("sz M", "size M")]),
    ("Áo FREE SIZE", [("FREE SIZE", "size FREE")]),
    ("áo one size", [("one size", "size FREE")]),
    ("tấm 0,99mx0,86m", [("0,99m", "0.99 m"), ("0,86m", "0.86 m")]),
    ("cân 0,5 kg", [("0,5 kg", "0.5 kg")]),  # a leading zero is fine in a measure
])
def test_extracts_and_normalises(quantity, text, expected):
    assert found(quantity, text) == expected


@pytest.mark.parametrize("text", [
    "Giao trong 3 ngày",
    "Nhà ở tầng 3, phòng 12",
    "Mạng 4G chậm quá",
    "Khách sạn 5 sao",
    "Hẹn 15h ở kho",
    "15g30 xe chạy",
    "Ngày 12/3 giao",
    "Quận 1, TP.HCM",
    "500k một bộ",
    "Giá 1,2 triệu",
    "3 người đi cùng",
    "Thuê xe 7 chỗ",
    "Lần 2 giao thất bại",
    "Giảm 20% hôm nay",
    "size nào vừa ạ",
    "SĐT 0912345678",
    "Công ty May 10 ký kết hợp tác",
    "Ma van don NTL-482191191 bao da giao",  # "bao" is "báo" here
    "goi so 0903 123 456 goi lai",
    "nghi ngay 23/3/2024 vi bi om",  # "vi" is "vì" here
    "gọi 0790284139 bao giờ cũng bận",  # a phone number counts nothing
    "mã kho 0123 hộp A",  # nor does a number with a leading zero
    "nhập 1.500.000 hộp",  # nor one of seven digits
])
def test_not_quantity(quantity, text):
    assert found(quantity, text) == []


@pytest.mark.parametrize("text, expected", [
    ("mua 3 HỘP", [("3 HỘP", "3 hộp")]),
    ("nặng 55 Kg", [("55 Kg", "55 kg")]),
    ("lấy 6 CHAI nước", [("6 CHAI", "6 chai")]),
])
def test_unit_words_in_any_case(quantity, text, expected):
    # the scanning regex spells its unit words in both cases instead of using (?i:...)
    assert found(quantity, text) == expected


def test_offsets_index_the_original_text_when_it_is_decomposed(quantity):
    text = unicodedata.normalize("NFD", "Mua 2 hộp và 5 lạng thịt")
    spans = quantity.extract(make_doc(text))
    assert [unicodedata.normalize("NFC", text[s.start:s.end]) for s in spans] == ["2 hộp", "5 lạng"]
    assert {(s.label, s.source, s.rule) for s in spans} == {("QUANTITY", "rule", "quantity")}


def test_units_come_from_the_configuration(tmp_path):
    conf = tmp_path / "quantity.yaml"
    conf.write_text("symbols: {oz: oz}\nwords: {}\nclassifiers: [ram]\n", encoding="utf-8")
    extractor = build_quantity({"conf_path": str(conf)})
    assert found(extractor, "Mua 12 oz và 2 ram giấy, 5 kg gạo") == [("12 oz", "12 oz"), ("2 ram", "2 ram")]


@pytest.mark.parametrize("yaml_text, message", [
    ("symbols: {m: m}\nwords: {}\n", "quantity: missing key.s. classifiers"),
    ("symbols: {m: m}\nwords: {}\nclassifiers: hộp\n", "quantity.classifiers: expected a list"),
])
def test_bad_vocabulary_is_reported(tmp_path, yaml_text, message):
    conf = tmp_path / "quantity.yaml"
    conf.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        build_quantity({"conf_path": str(conf)})


def test_registered_under_its_name():
    assert RULE_FACTORIES["quantity"]({}).labels == ("QUANTITY",)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(
    ["2,16", "1.500", "m", "kg", "x", "*", "1m65", "size", "M", "3XL", "2xl", "39", "hộp", "120/80", "mmHg", "9" * 40,
     "°C", " "]),
    st.text(max_size=5)), max_size=12))
def test_never_raises_and_spans_stay_inside_the_text(quantity, pieces):
    text = " ".join(pieces)
    for span in quantity.extract(make_doc(text)):
        assert 0 <= span.start < span.end <= len(text)


def test_benchmark_targets(quantity):
    assert_benchmark_targets(quantity, BENCHMARK, ("QUANTITY",))


def test_generated_records_never_raise_and_keep_offsets(quantity):
    assert_generated_records_keep_offsets(quantity)
