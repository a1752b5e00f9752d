"""Normalisation for matching: tone-mark placement, folding, offsets back to the original."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerlake.udfs.textnorm import fold, lower_same_length, make_doc, modern_tone_marks


@pytest.mark.parametrize("old, new", [
    ("hoà bình", "hòa bình"), ("Thuỷ", "Thủy"), ("khoẻ mạnh", "khỏe mạnh"), ("HOÀ", "HÒA"),
    ("toà nhà", "tòa nhà"), ("hoá đơn", "hóa đơn"), ("thuý", "thúy"), ("xoã", "xõa"),
])
def test_old_style_tone_marks_move_to_the_first_vowel(old, new):
    assert modern_tone_marks(old) == new


@pytest.mark.parametrize("text", ["hoàng", "quà", "quý", "khoảng", "hòa", "thuyền", "oÀ", "hello"])
def test_words_that_are_already_modern_or_longer_stay(text):
    assert modern_tone_marks(text) == text


def test_old_and_new_spellings_match_after_normalisation():
    assert make_doc("Công ty Hoà Bình").norm == make_doc("Công ty Hòa Bình").norm


@pytest.mark.parametrize("text, folded", [
    ("Đường Nguyễn Huệ, QUẬN 1", "duong nguyen hue, quan 1"),
    ("Hà Nội", "ha noi"),
    ("ÀÉÎÕÜ", "aeiou"),
])
def test_fold_strips_diacritics_and_case(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize("text, expected", [("Hôm QUA", "hôm qua"), ("İstanbul Hà Nội", "İstanbul hà nội"), ("", "")])
def test_lower_same_length(text, expected):
    assert lower_same_length(text) == expected and len(lower_same_length(text)) == len(text)


def test_doc_lower_is_the_normalised_text_lower_cased_in_place():
    doc = make_doc(unicodedata.normalize("NFD", "Hoà BÌNH İ"))
    assert doc.lower == "hòa bình İ" and len(doc.lower) == len(doc.norm)
    assert doc.lower is doc.lower  # made once per record


def test_decomposed_input_maps_back_to_original_offsets():
    original = unicodedata.normalize("NFD", "Gọi Nguyễn Văn A")
    doc = make_doc(original)
    start = doc.norm.index("Nguyễn")
    s, e = doc.to_original(start, start + len("Nguyễn"))
    assert unicodedata.normalize("NFC", original[s:e]) == "Nguyễn"


def test_span_end_never_splits_a_letter_from_its_mark():
    doc = make_doc("ngày 12/3/2024\u0301 nhé")  # a stray accent NFC cannot compose
    start = doc.norm.index("12")
    assert doc.to_original(start, start + len("12/3/2024")) == (start, start + len("12/3/2024") + 1)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aăâeêioôơuưyAĐđ \u0300\u0301\u0303\u0309\u0323oa uy,.0123"), max_size=40))
def test_normalised_text_keeps_lengths_and_maps_every_range(text):
    doc = make_doc(text)
    assert len(doc.folded) == len(doc.norm)
    assert make_doc(text).norm == doc.norm  # deterministic
    for start in range(len(doc.norm)):
        s, e = doc.to_original(start, len(doc.norm))
        assert 0 <= s <= e <= len(text)
    assert unicodedata.normalize("NFC", doc.text) == unicodedata.normalize("NFC", text)
