"""ID_NUMBER extractor: CCCD structure checks, CMND only with a cue, configurable bounds."""
from __future__ import annotations

from datetime import date

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.id_number import build_id_number
from nerlake.udfs.textnorm import make_doc

IDS = build_id_number({})
REF = date(2024, 3, 12)


def ids(text: str, ref_date: date | None = REF, extractor=IDS) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.normalized) for s in extractor.extract(make_doc(text, ref_date))]


@pytest.mark.parametrize("text, surface, digits", [
    ("Số CCCD: 001090012345, cấp ngày 10/5/2021", "001090012345", "001090012345"),
    ("CCCD:079301012345", "079301012345", "079301012345"),
    ("căn cước công dân số 048185001234", "048185001234", "048185001234"),
    ("Số định danh cá nhân 038095123456", "038095123456", "038095123456"),
    ("so cccd cua em 079094001234 a", "079094001234", "079094001234"),
    ("CCCD: 079 201 012 345 (2 mặt)", "079 201 012 345", "079201012345"),
    ("CCCD số 0010 9001 2345", "0010 9001 2345", "001090012345"),
    ("Nguyễn Văn A, 001089012345, Hà Nội", "001089012345", "001089012345"),
    ("CMND số 025123456 do CA cấp", "025123456", "025123456"),
    ("Số chứng minh nhân dân: 186123456", "186123456", "186123456"),
    ("ID card number 079190001234", "079190001234", "079190001234"),
])
def test_finds_valid_numbers(text, surface, digits):
    assert ids(text) == [(surface, digits)]


@pytest.mark.parametrize("text, why", [
    ("Mã tra cứu 097090012345", "province 097 does not exist"),
    ("Số hồ sơ 000090012345", "province 000"),
    ("Mã 003090012345", "003 is not assigned"),
    ("Số 001590012345", "century digit 5"),
    ("Ref 079299123456", "born 2099"),
    ("Mã phiếu 001020012345", "born 1902, age 122"),
    ("CCCD 079213123456", "born 2013, age 11 < 14"),
    ("Mã KH 025123456", "9 digits without cue"),
    ("Số tài khoản ACB: 038095123456", "bank account cue"),
    ("Mã vận đơn: 001090012345", "tracking cue"),
    ("Mã vạch 0790900123456", "13 digits"),
    ("Số CCCD 001090012345a", "glued to a letter"),
    ("sđt 0912345678", "phone"),
    ("Timestamp 20240312083000", "14 digits"),
])
def test_rejects_impossible_or_other_numbers(text, why):
    assert ids(text) == [], why


def test_age_is_relative_to_the_record_date():
    text = "CCCD 079210123456"  # born 2010
    assert ids(text, date(2024, 3, 12)) == [("079210123456", "079210123456")]
    assert ids(text, date(2023, 1, 1)) == []  # 13 years old then


def test_without_ref_date_today_is_used():
    assert ids("CCCD 001090012345", ref_date=None) == [("001090012345", "001090012345")]


def test_confidence_with_and_without_cue():
    [cued] = IDS.extract(make_doc("CCCD 001090012345", REF))
    [bare] = IDS.extract(make_doc("Anh A 001090012345", REF))
    assert (cued.score, bare.score) == (0.97, 0.75)
    assert cued.label == "ID_NUMBER" and cued.rule == "id_number"


def test_age_bounds_and_centuries_are_configurable():
    kids = build_id_number({"min_age": 0})
    assert ids("CCCD 079213123456", extractor=kids) == [("079213123456", "079213123456")]
    odd = build_id_number({"century_digits": {"0": 1900, "1": 1900, "2": 2000, "3": 2000, "8": 1800}, "max_age": 150})
    assert ids("CCCD 001890012345", extractor=odd) == [("001890012345", "001890012345")]


@pytest.mark.parametrize("options, message", [
    ({"min_age": 50, "max_age": 20}, "min_age"),
    ({"provinces": {"1": "Hà Nội"}}, "provinces"),
    ({"century_digits": {"12": 1900}}, "century_digits"),
    ({"max_ages": 3}, "unknown key"),
])
def test_bad_settings_fail_clearly(options, message):
    with pytest.raises(ConfigError, match=message):
        build_id_number(options)


def test_valid_cccd_helper_checks_each_field():
    assert IDS.is_valid_cccd("001090012345", REF)
    assert not IDS.is_valid_cccd("097090012345", REF)
    assert not IDS.is_valid_cccd("001490012345", REF)


@pytest.mark.parametrize("text, found", [
    ("Ứng viên Hoàng, 294479164, cấp 21-06-2019 tại CA", True),
    ("Anh A 294479164 cấp ngày 12/5/2010", True),
    ("Anh A 294479164, nơi cấp: CA Hà Nội", True),
    ("Mã khách hàng 294479164, cấp độ thành viên: Bạc", False),
    ("Mã 294479164 rồi cấp lại mã PIN", False),
])
def test_cmnd_recognised_by_issue_details_after_it(text, found):
    assert bool(ids(text)) == found


def test_bad_following_cue_regex_fails():
    with pytest.raises(ConfigError, match="following_cues"):
        build_id_number({"following_cues": ["cấp ("]})
