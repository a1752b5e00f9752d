"""PHONE extractor: every common Vietnamese writing, E.164 output, hard negatives, cues."""
from __future__ import annotations

import unicodedata

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.phone import build_phone
from nerlake.udfs.textnorm import make_doc

PHONE = build_phone({})


def phones(text: str, extractor=PHONE) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.normalized) for s in extractor.extract(make_doc(text))]


@pytest.mark.parametrize("text, surface, e164", [
    ("gọi 0912 345 678 nhé", "0912 345 678", "+84912345678"),
    ("sđt: 0987.654.321", "0987.654.321", "+84987654321"),
    ("sđt 0912-345-678", "0912-345-678", "+84912345678"),
    ("liên hệ +84 912 345 678", "+84 912 345 678", "+84912345678"),
    ("zalo 84912345678", "84912345678", "+84912345678"),
    ("số (+84) 912-345-678 ạ", "(+84) 912-345-678", "+84912345678"),
    ("em số 0912345678 ạ", "0912345678", "+84912345678"),
    ("hotline 091 234 5678", "091 234 5678", "+84912345678"),
    ("gọi 09 12 34 56 78", "09 12 34 56 78", "+84912345678"),
    ("VP: (028) 3822 1234", "(028) 3822 1234", "+842838221234"),
    ("ĐT 024.3826.1234", "024.3826.1234", "+842438261234"),
    ("ĐT 0236 3822 123", "0236 3822 123", "+842363822123"),
    ("ĐT 02838221234", "02838221234", "+842838221234"),
    ("| +84 (28) 3822 1234 |", "+84 (28) 3822 1234", "+842838221234"),
    ("số cũ +84 0912 345 678", "+84 0912 345 678", "+84912345678"),
    ("Hotline: 1900 545 413 (24/7)", "1900 545 413", "+841900545413"),
    ("miễn phí 1800 1091", "1800 1091", "+8418001091"),
    ("sđt0912345678 nha", "0912345678", "+84912345678"),
    ("tel:+84912345678", "+84912345678", "+84912345678"),
    ("US office +1 650 253 0000", "+1 650 253 0000", "+16502530000"),
])
def test_finds_and_normalises(text, surface, e164):
    assert phones(text) == [(surface, e164)]


@pytest.mark.parametrize("text", [
    "Tổng tiền 1.250.000đ, đã cọc 500.000đ",
    "Giá trị hợp đồng 12.500.000.000 đồng",
    "Hẹn ngày 12/03/2024 hoặc 15-03-2024, 12.03.2024 08:30",
    "Mã vận đơn GHN0912345678",
    "Đơn SPX-HCM-0912345678 bị hoàn",
    "Số CCCD 079201012345",
    "CMND số 025123456",
    "Tồn kho: 1200 1500 1800 2000 2500 chiếc",
    "Mã vạch 8934563123456",
    "STK 0071001234567 Vietcombank",
    "STK: 1903 6789 0123 45",
    "Mã số thuế: 0312345678",
    "MST 0352123456",
    "US office 650 253 0000",
    "Giá sỉ 990000, giá lẻ 1090000",
    "0912345678đ",
    "Phiên bản 2.10.3, iOS 17.4",
    "Số serial SN0912345678",
])
def test_rejects_lookalikes(text):
    assert phones(text) == []


def test_several_numbers_in_one_record():
    text = "Anh gọi 0912 345 678 hoặc 0987 654 321, 0912345678/0987654321, ĐT: 0912345678 - 0987654321"
    assert [e for _, e in phones(text)] == ["+84912345678", "+84987654321"] * 3


def test_adjacent_numbers_in_one_run_are_split():
    assert phones("0912 345 678 0987 654 321") == [("0912 345 678", "+84912345678"), ("0987 654 321", "+84987654321")]


@pytest.mark.parametrize("text, score", [
    ("sđt 0912345678", 0.97),
    ("so dien thoai: 0912345678", 0.97),
    ("Khách hàng 0912345678", 0.85),
    ("Office +65 6123 4567", 0.8),
])
def test_confidence_depends_on_cue(text, score):
    [span] = PHONE.extract(make_doc(text))
    assert span.score == score and span.source == "rule" and span.rule == "phone" and span.label == "PHONE"


def test_offsets_index_the_original_text_for_decomposed_input():
    text = unicodedata.normalize("NFD", "Số điện thoại của chị Hường: 0912 345 678 ạ")
    [span] = PHONE.extract(make_doc(text))
    assert text[span.start:span.end] == "0912 345 678"


def test_options_override_yaml_and_unknown_keys_fail():
    quiet = build_phone({"confidence": {"base": 0.5, "with_cue": 0.6, "foreign": 0.4}})
    assert [s.score for s in quiet.extract(make_doc("A 0912345678"))] == [0.5]
    with pytest.raises(ConfigError, match="rules.options.phone.*cue_windw"):
        build_phone({"cue_windw": 10})


def test_user_conf_file(tmp_path):
    conf = tmp_path / "phone.yaml"
    conf.write_text("cue_words: [bấm số]\nnegative_cue_words: [mã khách]\n", encoding="utf-8")
    custom = build_phone({"conf_path": str(conf)})
    assert [s.score for s in custom.extract(make_doc("bấm số 0912345678"))] == [0.97]
    assert custom.extract(make_doc("mã khách 0912345678")) == []
    with pytest.raises(ConfigError, match="cannot read"):
        build_phone({"conf_path": str(tmp_path / "missing.yaml")})


def test_fast_validation_agrees_with_phonenumbers():
    import random

    import phonenumbers

    from nerlake.udfs.rules.phone import NationalNumbers

    numbers = NationalNumbers("VN")
    rng = random.Random(7)
    checked = valid = 0
    for _ in range(4000):
        national = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 10)))
        expected = phonenumbers.is_valid_number(phonenumbers.parse("+84" + national))
        assert numbers.is_valid(national) == expected, national
        checked += 1
        valid += expected
    assert valid > 200  # the sample really exercises valid numbers too


def test_unknown_region_fails():
    with pytest.raises(ConfigError, match="default_region"):
        build_phone({"default_region": "XX"})


def test_without_cue_words_every_valid_number_is_kept():
    bare = build_phone({"cue_words": [], "negative_cue_words": []})
    assert [s.score for s in bare.extract(make_doc("MST 0912345678"))] == [0.85]
