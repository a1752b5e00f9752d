"""EMAIL and URL extractors."""
from __future__ import annotations

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.web import build_email, build_url
from nerlake.udfs.textnorm import make_doc

EMAIL = build_email({})
URL = build_url({})


def found(extractor, text: str) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.normalized) for s in extractor.extract(make_doc(text))]


@pytest.mark.parametrize("text, surface, normalized", [
    ("Gửi CV về nguyenvana@gmail.com trước thứ 6", "nguyenvana@gmail.com", "nguyenvana@gmail.com"),
    ("Email: Tran.Thi.B@Company.com.vn", "Tran.Thi.B@Company.com.vn", "tran.thi.b@company.com.vn"),
    ("gửi về hr@fpt.com.vn.", "hr@fpt.com.vn", "hr@fpt.com.vn"),
    ("(cskh@tiki.vn)", "cskh@tiki.vn", "cskh@tiki.vn"),
    ("to a_b-c+tag@sub.domain.vn now", "a_b-c+tag@sub.domain.vn", "a_b-c+tag@sub.domain.vn"),
    ("From: HR <hr@vng.com.vn>", "hr@vng.com.vn", "hr@vng.com.vn"),
    ("mailto:hotro@abc.vn", "hotro@abc.vn", "hotro@abc.vn"),
    ("EMAIL:ABC@GMAIL.COM;", "ABC@GMAIL.COM", "abc@gmail.com"),
    ("info@viet-nam.vn", "info@viet-nam.vn", "info@viet-nam.vn"),
])
def test_email_found_and_lower_cased(text, surface, normalized):
    assert found(EMAIL, text) == [(surface, normalized)]


@pytest.mark.parametrize("text", [
    "Cảm ơn @nguyenvana nhé", "mail abc@gmail nha", "user@localhost", "icon@2x.png lỗi",
    "Giá 50k@1 sản phẩm", "abc @gmail.com", "x@y.z",
])
def test_email_rejects_non_addresses(text):
    assert found(EMAIL, text) == []


def test_two_emails_in_a_list():
    assert [n for _, n in found(EMAIL, "a@b.vn,c.d@e-f.com.vn")] == ["a@b.vn", "c.d@e-f.com.vn"]


@pytest.mark.parametrize("text, surface", [
    ("Link: https://shopee.vn/abc-123", "https://shopee.vn/abc-123"),
    ("Vào www.tiki.vn để đặt", "www.tiki.vn"),
    ("Xem shopee.vn/product/123 nha", "shopee.vn/product/123"),
    ("http://vnexpress.net/the-gioi, giá vàng", "http://vnexpress.net/the-gioi"),
    ("q: https://tiki.vn/search?q=ao+thun&page=2", "https://tiki.vn/search?q=ao+thun&page=2"),
    ("Xem tại https://lazada.vn/p/123.", "https://lazada.vn/p/123"),
    ("(xem https://ghn.vn/tra-cuu)", "https://ghn.vn/tra-cuu"),
    ("https://vi.wikipedia.org/wiki/Hà_Nội ok", "https://vi.wikipedia.org/wiki/Hà_Nội"),
    ("“https://vnexpress.net/a.html” hay", "https://vnexpress.net/a.html"),
    ("[x](https://abc.vn/p/1)", "https://abc.vn/p/1"),
    ("https://en.wikipedia.org/wiki/Python_(language) ok", "https://en.wikipedia.org/wiki/Python_(language)"),
    ("Internet banking Vietcombank.com.vn", "Vietcombank.com.vn"),
    ("zalo.me/0912345678", "zalo.me/0912345678"),
    ("link:https://abc.vn/km!", "https://abc.vn/km"),
    ("http://192.168.1.1/admin", "http://192.168.1.1/admin"),
])
def test_url_found_as_written(text, surface):
    assert found(URL, text) == [(surface, surface)]


@pytest.mark.parametrize("text", [
    "file baocao.pdf và hinh_anh.jpg", "data_2024.xlsx", "bản v1.2.3", "Bao 2.5kg giá 3.14",
    "Mr.Nam ở TP.HCM", "hr@fpt.com.vn", "IP 192.168.1.1", "trời đẹp.Mai đi", "ASP.NET, Node.js",
    "giá 1.250.000đ/bộ", "https:// trống",
])
def test_url_rejects_lookalikes(text):
    assert found(URL, text) == []


def test_url_scores_by_shape():
    scores = [s.score for s in URL.extract(make_doc("https://a.vn www.b.vn c.vn"))]
    assert scores == [0.97, 0.95, 0.85]


def test_bare_tld_list_is_an_option():
    extended = build_url({"bare_domain_tlds": ["vn", "co"]})
    assert found(extended, "xem abc.co nhé") == [("abc.co", "abc.co")]
    assert found(URL, "xem abc.co nhé") == []
    with pytest.raises(ConfigError, match="rules.options.url"):
        build_url({"tlds": ["vn"]})
