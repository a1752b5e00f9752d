"""Helpers the rule extractors share: settings, cue words, phrase regexes, numbers, gates."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.phone import PhoneSettings
from nerlake.udfs.rules.common import (CueWords, WordsBefore, cased_literal, class_first, first_digit, format_decimal,
                                       has_long_number, load_rule_settings, parse_number, per_record, phrases_pattern,
                                       prefix_pattern, strip_accents, typed_without_accents, with_unaccented_spellings,
                                       words_after)
from nerlake.udfs.textnorm import make_doc


@dataclass
class _Settings:
    cue_window: int = field(default=30, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    cue_words: list[str] = field(default_factory=list)


@dataclass
class _Required:
    words: list[str]
    other: list[str]


def _conf(tmp_path, text: str) -> str:
    path = tmp_path / "rule.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_settings_are_the_yaml_overlaid_with_the_options(tmp_path):
    conf = _conf(tmp_path, "cue_window: 12\ncue_words: [sđt]\n")
    assert load_rule_settings(_Settings, "phone", {"conf_path": conf}) == _Settings(12, ["sđt"])
    assert load_rule_settings(_Settings, "phone", {"conf_path": conf, "cue_window": 5}) == _Settings(5, ["sđt"])
    packaged = load_rule_settings(PhoneSettings, "phone", {"cue_window": 5})  # the packaged phone.yaml
    assert packaged.cue_window == 5 and "sđt" in packaged.cue_words


@pytest.mark.parametrize("yaml_text, options, message", [
    ("cue_window: -1\n", {}, r"rules\.options\.phone\.cue_window: -1 is not allowed"),
    ("cue_windw: 1\n", {}, r"unknown key rules\.options\.phone\.cue_windw"),
    ("[1, 2]\n", {}, "must hold a mapping"),
    ("cue_words: [a\n", {}, "is not valid YAML"),
    ("", {"conf_path": 3}, r"rules\.options\.phone\.conf_path: expected a file path"),
])
def test_bad_settings_name_the_key(tmp_path, yaml_text, options, message):
    with pytest.raises(ConfigError, match=message):
        load_rule_settings(_Settings, "phone", {"conf_path": _conf(tmp_path, yaml_text), **options})


def test_missing_file_and_missing_keys_are_reported(tmp_path):
    with pytest.raises(ConfigError, match=r"rules\.options\.phone\.conf_path: cannot read"):
        load_rule_settings(_Settings, "phone", {"conf_path": str(tmp_path / "nope.yaml")})
    with pytest.raises(ConfigError, match=r"rules\.options\.x: missing key\(s\) words, other in .*rule\.yaml"):
        load_rule_settings(_Required, "x", {"conf_path": _conf(tmp_path, "{}\n")})


@pytest.mark.parametrize("text, kind", [
    ("Liên hệ SĐT: 0912345678", "positive"),
    ("lien he sdt 0912345678", "positive"),
    ("mã số thuế 0912345678", "negative"),
    ("sđt cũ, mã số thuế 0912345678", "negative"),  # the nearest cue decides
    ("mã số thuế cũ, sđt 0912345678", "positive"),
    ("osđt 0912345678", None),  # whole words only
    ("gọi em nhé 0912345678", None),
])
def test_nearest_cue_before_a_position(text, kind):
    cues = CueWords(["sđt", "số điện thoại"], ["mã số thuế", "mst"], window=30)
    assert cues.nearest(text, text.index("0912")) == kind
    assert cues.any_before(text, text.index("0912")) is (kind is not None)


def test_cues_look_only_inside_their_window():
    cues = CueWords(["sđt"], window=5)
    assert cues.any_before("sđt: 0912", 5) and not cues.any_before("sđt gọi lại 0912", 13)
    assert CueWords([]).nearest("sđt 0912", 4) is None and not CueWords([]).any_before("sđt 0912", 4)


@pytest.mark.parametrize("written, value", [
    ("1.250.000", Decimal(1250000)), ("618,000", Decimal(618000)), ("1,2", Decimal("1.2")),
    ("2.5", Decimal("2.5")), ("1,250", Decimal(1250)), ("12.000,50", Decimal("12000.50")),
    ("1,299.99", Decimal("1299.99")), ("007", Decimal(7)),
])
def test_number_reading_follows_group_shape(written, value):
    assert parse_number(written) == value


@pytest.mark.parametrize("value, text", [(Decimal("1.2E+6"), "1200000"), (Decimal("2.160"), "2.16"), (7, "7")])
def test_format_decimal_is_plain(value, text):
    assert format_decimal(value) == text


def test_phrase_trie_prefers_longer_phrases():
    import re
    pattern = re.compile(f"(?:{phrases_pattern(['tr', 'triệu', 'trăm nghìn'])})(?!\\w)", re.IGNORECASE)
    assert [pattern.match(t) is not None for t in ("tr", "TRIỆU", "trăm  nghìn", "trx")] == [True, True, True, False]
    prefix = re.compile(prefix_pattern(["k", "triệu"]), re.IGNORECASE)
    assert [prefix.match(t) is not None for t in ("k ", "kg", "tri", "tr")] == [True, False, True, False]


@pytest.mark.parametrize("text, pos, expected", [
    ("giao ngày 12", 10, (5, "ngày")),
    ("(ngày 12", 6, (1, "ngày")),
    ("tỉ lệ  1:10", 7, (0, "tỉ lệ")),
    ("q. 7", 3, (0, "q")),
    ("Hẹn VÀO LÚC 8h", 12, (4, "vào lúc")),
    ("xngày 1", 6, None),
    ("giao 12", 5, None),
    ("", 0, None),
])
def test_words_before_a_position(text, pos, expected):
    assert WordsBefore(["ngày", "tỉ lệ", "q", "vào lúc", "lúc"]).find(text, pos) == expected


@pytest.mark.parametrize("text, typed_plain", [
    ("hom qua em chuyen 500k", True), ("sốt 39°C", False), ("38,6 do C ×2", True), ("ĐỒNG", False), ("", True),
])
def test_records_typed_without_accents(text, typed_plain):
    assert typed_without_accents(text) is typed_plain


def test_strip_accents_keeps_letter_case():
    assert strip_accents("Đồng hồ tối thứ Bảy, 5 mAh") == "Dong ho toi thu Bay, 5 mAh"


@pytest.mark.parametrize("text, digit, long_number", [
    ("hôm qua", False, False), ("3 hộp", True, False), ("0912 345 678", True, True), ("(028) 3822 1234", True, True),
    ("1991 234", True, True), ("12/03/2024", True, False), ("1.250.000đ", True, True), ("SPX512345678", True, True),
    ("٣٤٥٦٧٨٩١٢", False, False),  # other scripts' digits are no numbers here
])
def test_record_gates(text, digit, long_number):
    assert (first_digit(text) >= 0) is digit and has_long_number(text) is long_number
    assert first_digit(text) == next((i for i, c in enumerate(text) if c in "0123456789"), -1)


def test_per_record_computes_a_fact_once_per_document():
    calls = []

    def length(text):
        calls.append(text)
        return len(text)

    record_length = per_record(length)
    first, second = make_doc("Hoà"), make_doc("abcd")
    # extract: one record after the other; extract_many: each extractor over a whole block
    assert [record_length(d) for d in (first, first, second, first, second)] == [3, 3, 4, 3, 4]
    assert calls == ["Hòa", "abcd"]  # asked about the normalised text, once per document
    assert record_length(make_doc("Hoà")) == 3 and len(calls) == 3  # another record: asked again
    assert record_length.__name__ == "record_length"


@pytest.mark.parametrize("literal, text, matches", [
    ("us$", "US$", True), ("us$", "uS$", True), ("us$", "usd", False), ("vnđ", "VNĐ", True), ("€", "€", True),
    ("us $", "US $", True), ("us $", "US  $", False), ("a.b", "A.B", True), ("a.b", "AxB", False),
])
def test_cased_literal_matches_what_the_literal_matches_ignoring_case(literal, text, matches):
    assert (re.fullmatch(cased_literal(literal), text) is not None) is matches
    assert (re.fullmatch(re.escape(literal), text, re.IGNORECASE) is not None) is matches
    assert re.compile(f"(?<={cased_literal(literal)})x").search(text + "x") is not None or not matches  # fixed width


@pytest.mark.parametrize("regex, rewritten", [
    ("[0-9]{9}", "[0-9][0-9]{8}"), ("[0-9]{9,10}x", "[0-9][0-9]{8,9}x"), ("[A-Z]+-[0-9]", "[A-Z][A-Z]*-[0-9]"),
    ("[0-9]{2,}", "[0-9][0-9]{1,}"), ("[\\]a]{3}", "[\\]a][\\]a]{2}"), ("abc", "abc"), ("(?:[0-9]{9})", "(?:[0-9]{9})"),
])
def test_class_first_keeps_the_matches(regex, rewritten):
    assert class_first(regex) == rewritten
    rng = random.Random(regex)
    texts = ["".join(rng.choice("0123456789ABZ-x] ") for _ in range(rng.randint(0, 20))) for _ in range(300)]
    old, new = re.compile(regex), re.compile(rewritten)
    assert [[m.span() for m in old.finditer(t)] for t in texts] == [[m.span() for m in new.finditer(t)] for t in texts]


def test_words_after_with_exceptions():
    blocked = words_after(["năm", "người"], unless=["năm ngoái"])
    assert [blocked.match(t) is not None for t in (" năm", " người", " năm ngoái", " nămx", " Năm nay")] == \
        [True, True, False, False, True]
    assert words_after([]).match(" năm") is None


def test_unaccented_spellings_are_added_to_the_vocabulary():
    @dataclass
    class Vocab:
        units: dict[str, str]
        connectors: list[str]
        also_without_accents: list[str]

    vocab = Vocab({"phút": "MIN", "giây": "S"}, ["đến", "-"], ["phút", "đến"])
    both = with_unaccented_spellings(vocab, vocab.also_without_accents)
    assert both.units == {"phút": "MIN", "giây": "S", "phut": "MIN"} and both.connectors == ["đến", "-", "den"]
    assert vocab.units == {"phút": "MIN", "giây": "S"}  # the original is left as it was
