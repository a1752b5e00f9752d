"""ORDER_CODE extractor: the default segment grammar, its constraints, user-added formats."""
from __future__ import annotations

from importlib.resources import files

import pytest
import yaml

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.order_code import _digit_run_length, build_order_code
from nerlake.udfs.textnorm import make_doc

CODES = build_order_code({})


def codes(text: str, extractor=CODES) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.normalized) for s in extractor.extract(make_doc(text))]


@pytest.mark.parametrize("code", [
    "SPX-HCM-512345678", "GHN0123456789", "GHTK-HN2-1023456789", "SPXVN0412345678", "GHTK1023456789",
    "JNT-HCM12-512345678", "VTP-SGN-1098765432", "NJV-HN-512398765", "GHN-0123456789", "SPXHCM512345678",
])
def test_default_grammar_codes(code):
    assert codes(f"Mã đơn {code}, giao giúp em.") == [(code, code)]


@pytest.mark.parametrize("text, surface, normalized", [
    ("ma van don ghtk1023456789 nha", "ghtk1023456789", "GHTK1023456789"),
    ("Đơn #SPX-HCM-512345678 ok", "SPX-HCM-512345678", "SPX-HCM-512345678"),
    ("(GHTK-HN2-1023456789)", "GHTK-HN2-1023456789", "GHTK-HN2-1023456789"),
])
def test_surface_and_upper_cased_value(text, surface, normalized):
    assert codes(text) == [(surface, normalized)]


@pytest.mark.parametrize("text, why", [
    ("Mã SPX-HCM-012345678", "9-digit random segment starting with 0"),
    ("Mã GHN2123456789", "10-digit random segment starting with 2"),
    ("Mã GHN01234567890", "11 digits"),
    ("Mã GHN12345678", "8 digits"),
    ("Đơn SPX-HCM-512345678-2", "suffix after the code"),
    ("iPhone15 Pro, SKU AB-1234, BN1234, SALE50K, COVID-19", "short codes"),
    ("sdt0912345678 goi giup e", "phone glued to a cue"),
    ("Liên hệ zalo0987654321", "phone glued to zalo"),
    ("Model XR-2024-123456789", "year-like routing segment"),
    ("Mã ABCDEFGH0123456789", "8 letters: more than shop + routing"),
])
def test_rejects_codes_outside_the_grammar(text, why):
    assert codes(text) == [], why


def test_confidence_higher_after_a_cue():
    [cued] = CODES.extract(make_doc("Mã vận đơn: GHN0123456789"))
    [bare] = CODES.extract(make_doc("Hôm qua GHN0123456789"))
    assert (cued.score, bare.score) == (0.98, 0.9)


def test_ignore_case_can_be_turned_off():
    strict = build_order_code({"ignore_case": False})
    assert codes("ghtk1023456789", strict) == []
    assert codes("GHTK1023456789", strict) == [("GHTK1023456789", "GHTK1023456789")]


def _user_conf(tmp_path, formats) -> str:
    default = yaml.safe_load((files("nerlake.conf") / "rules" / "order_code.yaml").read_text(encoding="utf-8"))
    default["formats"] += formats
    path = tmp_path / "order_code.yaml"
    path.write_text(yaml.safe_dump(default, allow_unicode=True), encoding="utf-8")
    return str(path)


UPU_S10 = {
    "name": "upu_s10", "separators": [""],
    "segments": [{"name": "service", "regex": "[A-Z]{2}"}, {"name": "serial", "regex": "[0-9]{9}"},
                 {"name": "country", "regex": "[A-Z]{2}"}],
    "examples": ["EB123456789VN"],
}


def test_user_added_format_works_alongside_the_default(tmp_path):
    extractor = build_order_code({"conf_path": _user_conf(tmp_path, [UPU_S10])})
    text = "Bưu phẩm EB123456789VN và đơn GHN0123456789"
    assert codes(text, extractor) == [("EB123456789VN", "EB123456789VN"), ("GHN0123456789", "GHN0123456789")]
    assert extractor.match_code("EB123456789VN") == "upu_s10"
    assert codes("Bưu phẩm EB123456789VN") == []  # not in the default grammar


def test_user_format_with_length_constraints_and_optional_first_segment(tmp_path):
    fmt = {
        "name": "warehouse", "separators": ["/"],
        "segments": [
            {"name": "zone", "regex": "Z[0-9]", "optional": True},
            {"name": "box", "regex": "[0-9]{6,7}", "constraints": [{"length": 7, "regex": "9[0-9]{6}"}]},
            {"name": "tag", "regex": "[A-Z]{3}"},
        ],
        "examples": ["Z1/123456/ABC", "9123456/ABC"],
    }
    extractor = build_order_code({"conf_path": _user_conf(tmp_path, [fmt])})
    assert extractor.match_code("Z1/123456/ABC") == "warehouse"
    assert extractor.match_code("9123456/ABC") == "warehouse"
    assert extractor.match_code("1234567/ABC") is None  # 7 digits must start with 9
    # this format has no prefilter, so records without 9 digits are scanned too
    assert codes("kiện Z1/123456/ABC đã tới", extractor) == [("Z1/123456/ABC", "Z1/123456/ABC")]


def test_prefilter_that_needs_no_long_number_still_finds_codes(tmp_path):
    # "[0-9]{9}" prefilters let records without 7 digits in a row skip the grammar; a user
    # prefilter that allows codes with fewer digits must not be skipped so.
    fmt = {"name": "bin", "separators": ["-"], "prefilter": "BIN",
           "segments": [{"name": "head", "regex": "BIN"}, {"name": "slot", "regex": "[0-9]{3}"}],
           "examples": ["BIN-123"]}
    extractor = build_order_code({"conf_path": _user_conf(tmp_path, [{**UPU_S10, "prefilter": "[0-9]{9}"}, fmt])})
    assert codes("hàng ở BIN-123 nhé", extractor) == [("BIN-123", "BIN-123")]
    assert codes("Bưu phẩm EB123456789VN", extractor) == [("EB123456789VN", "EB123456789VN")]


@pytest.mark.parametrize("regex, length", [
    ("[0-9]{9}", 9), ("[0-9]{9,10}", 9), ("[0-9]{7,}", 7), ("[0-9]{3}", 3), ("[A-Z]{9}", 0), ("[0-9]{9}VN", 0),
])
def test_digit_run_prefilters_are_recognised(regex, length):
    assert _digit_run_length(regex) == length


def test_prefilter_must_hold_for_the_examples(tmp_path):
    with pytest.raises(ConfigError, match="prefilter"):
        build_order_code({"conf_path": _user_conf(tmp_path, [{**UPU_S10, "prefilter": "[0-9]{12}"}])})


@pytest.mark.parametrize("bad_format, message", [
    ({**UPU_S10, "examples": ["EB12345678VN"]}, "does not match format 'upu_s10'"),
    ({**UPU_S10, "segments": [{"name": "x", "regex": "[A-Z"}]}, "bad regex"),
    ({**UPU_S10, "separators": []}, "separators"),
    ({**UPU_S10, "segments": [{"name": "x", "regex": "[A-Z]", "optional": True}], "examples": []}, "not be optional"),
    ({**UPU_S10, "segments": [{"name": "x", "regex": "[A-Z]", "constraints": [{"length": 0, "regex": "A"}]}]}, "length"),
])
def test_bad_formats_fail_with_the_key_named(tmp_path, bad_format, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_order_code({"conf_path": _user_conf(tmp_path, [bad_format])})
    assert "rules.options.order_code.formats[1]" in str(err.value)
