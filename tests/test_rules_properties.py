"""Property tests over the whole RuleSet: offsets, determinism, robustness, NFC/NFD agreement."""
from __future__ import annotations

import unicodedata
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerlake.udfs.rules.ruleset import RuleSet, RulesConfig
from nerlake.udfs.textnorm import make_doc

RULES = RuleSet.from_config(RulesConfig())
REF = date(2024, 3, 12)

# Pieces that trigger the rules, glued with random characters so that boundaries get tested.
TOKENS = [
    "0912", "345", "678", "0912345678", "+84", "(028)", "3822", "1234", "84912345678", "1900", "SPX", "GHN",
    "-HCM-", "512345678", "0123456789", "001090012345", "CCCD ", "CMND ", "025123456", "@", "gmail.com", ".vn",
    "https://", "www.", "shopee.vn/", "51F-", "123.45", "29A1", "Hà Nội", "ha noi", "TP. HCM", "Vietcombank", "MB",
    "quận 1", "ngày ", "12/3/2024", "15h30", "3 giờ chiều", "từ 8h đến 17h", "618.000đ", "1,2 triệu", "500k",
    "$50", "2,16 m", "size M", "3 hộp", "sđt", "hôm qua", "tuần sau", "v1.2.3", "tỉ số 2-1",
]
ALPHABET = "0123456789 .,-/:+()@#&_'\"\n\tabcdeghiklmnopqrstuvxyĐđăâêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ\u0301\u0300\u0323"
vietnamese_like = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(ALPHABET, max_size=3)), max_size=25).map("".join)
# Rule tokens with a stray combining mark glued to their last character ("2024\u0301"): a span
# must then either take the whole character cluster or leave the token alone.
marked_tokens = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.sampled_from(["", "", "\u0301", "\u0323"])).map("".join), max_size=8,
).map(" ".join)
any_text = st.text(max_size=200)
PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

COMBINING = {"Mn", "Me", "Mc"}


def check_spans(text: str, spans) -> None:
    previous_end = 0
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        surface = text[span.start:span.end]
        assert surface == surface.strip(), (span, surface)
        # Offsets never split a character from its combining marks.
        assert unicodedata.category(text[span.start]) not in COMBINING, span
        assert span.end == len(text) or unicodedata.category(text[span.end]) not in COMBINING, span
        assert span.start >= previous_end, "spans overlap or are unsorted"
        previous_end = span.end
        assert 0.0 <= span.score <= 1.0 and span.source == "rule" and span.rule


def run(text: str, ref_date=REF):
    spans = RULES.extract(make_doc(text, ref_date))
    assert RULES.error_counts == {}, f"an extractor raised on {text!r}"
    return spans


@PROPERTY_SETTINGS
@given(st.one_of(any_text, vietnamese_like, marked_tokens), st.sampled_from([REF, None]))
def test_spans_are_valid_and_deterministic(text, ref_date):
    spans = run(text, ref_date)
    check_spans(text, spans)
    assert run(text, ref_date) == spans


@PROPERTY_SETTINGS
@given(st.one_of(vietnamese_like, marked_tokens))
def test_decomposed_input_gives_the_same_entities(text):
    composed = unicodedata.normalize("NFC", text)
    decomposed = unicodedata.normalize("NFD", text)
    nfc_spans = run(composed)
    nfd_spans = run(decomposed)
    check_spans(decomposed, nfd_spans)
    as_nfc = [(s.label, unicodedata.normalize("NFC", decomposed[s.start:s.end]), s.normalized) for s in nfd_spans]
    assert as_nfc == [(s.label, composed[s.start:s.end], s.normalized) for s in nfc_spans]


@PROPERTY_SETTINGS
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12), st.sampled_from([" ", ", ", "\n", " - "]))
def test_token_soups_never_break_the_rules(tokens, separator):
    text = separator.join(tokens)
    check_spans(text, run(text))
