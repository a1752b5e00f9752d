"""Gazetteer extractor: term lists, case and diacritics rules, context guards, custom lists."""
from __future__ import annotations

import random
import unicodedata

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.gazetteer import _longest_first, build_gazetteer
from nerlake.udfs.textnorm import make_doc

GAZ = build_gazetteer({})


def names(text: str, extractor=GAZ) -> list[tuple[str, str, str]]:
    return [(text[s.start:s.end], s.label, s.normalized) for s in extractor.extract(make_doc(text))]


@pytest.mark.parametrize("text, expected", [
    ("Chuyển khoản qua Vietcombank", [("Vietcombank", "ORG", "Vietcombank")]),
    ("STK VCB 0071001234567", [("VCB", "ORG", "Vietcombank")]),
    ("ck qua vcb nhé", [("vcb", "ORG", "Vietcombank")]),
    ("Agribank, VietinBank, BIDV", [("Agribank", "ORG", "Agribank"), ("VietinBank", "ORG", "VietinBank"),
                                    ("BIDV", "ORG", "BIDV")]),
    ("Khách hàng ngân hàng Quân đội", [("ngân hàng Quân đội", "ORG", "MB")]),
    ("THANH TOÁN QUA VPBANK", [("VPBANK", "ORG", "VPBank")]),
    ("gửi GHTK hay Viettel Post", [("GHTK", "ORG", "GHTK"), ("Viettel Post", "ORG", "Viettel Post")]),
    ("hàng đi J&T Express", [("J&T Express", "ORG", "J&T Express")]),
    ("chuyển lên Bệnh viện Bạch Mai", [("Bệnh viện Bạch Mai", "ORG", "Bệnh viện Bạch Mai")]),
])
def test_organisations(text, expected):
    assert names(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Shop ở Hà Nội", [("Hà Nội", "LOC", "Hà Nội")]),
    ("ship ra ha noi nhé", [("ha noi", "LOC", "Hà Nội")]),
    ("Du lịch Da Nang", [("Da Nang", "LOC", "Đà Nẵng")]),
    ("BÃO VÀO QUẢNG NGÃI", [("QUẢNG NGÃI", "LOC", "Quảng Ngãi")]),
    ("nội thành TP. HCM", [("TP. HCM", "LOC", "Thành phố Hồ Chí Minh")]),
    ("về Sài Gòn", [("Sài Gòn", "LOC", "Thành phố Hồ Chí Minh")]),
    ("nhà ở quận 1, gần chợ", [("quận 1", "LOC", "Quận 1")]),
    ("văn phòng Cầu Giấy", [("Cầu Giấy", "LOC", "Quận Cầu Giấy")]),
    ("từ quận Thanh Xuân", [("quận Thanh Xuân", "LOC", "Quận Thanh Xuân")]),
    ("xuất sang Hàn Quốc", [("Hàn Quốc", "LOC", "Hàn Quốc")]),
    ("Lũ ở Hòa Bình", [("Hòa Bình", "LOC", "Hòa Bình")]),
])
def test_places(text, expected):
    assert names(text) == expected


@pytest.mark.parametrize("text, why", [
    ("File nặng 25 MB", "a size, not the bank MB"),
    ("ship mb nhé", "mb is chat shorthand for miền Bắc"),
    ("ship hn bao lâu", "hn is chat shorthand for hôm nay"),
    ("Mong thế giới luôn hòa bình", "common word"),
    ("Sơn là vật liệu dễ cháy", "different diacritics are a different word"),
    ("anh Nam định mua thêm", "mixed case does not match a capitalised name"),
    ("Anh Hải Dương là trưởng phòng", "person title before a place name"),
    ("Chị Thanh Xuân gọi lại", "district listed only with its prefix"),
    ("Shop giao hàng nhanh lắm", "common phrase equal to a carrier name"),
    ("Mỹ phẩm chính hãng", "Mỹ phẩm is cosmetics"),
    ("Vietcombank1234 và MBBanking", "not whole words"),
])
def test_guards(text, why):
    assert names(text) == [], why


def test_longest_match_wins():
    assert names("Sinh viên Đại học Quốc gia Hà Nội") == [("Đại học Quốc gia Hà Nội", "ORG", "Đại học Quốc gia Hà Nội")]
    assert names("Tàu ở Thái Bình Dương") == [("Thái Bình Dương", "LOC", "Thái Bình Dương")]
    assert names("Chị dùng mỹ phẩm của Mỹ hay Hàn Quốc?") == [("Mỹ", "LOC", "Mỹ"), ("Hàn Quốc", "LOC", "Hàn Quốc")]


def _greedy_longest_first(hits):
    """The plain definition: longest first (then earliest), skipping what overlaps a kept hit."""
    kept = []
    for hit in sorted(hits, key=lambda h: (h[0] - h[1], h[0])):
        if all(hit[1] <= k[0] or k[1] <= hit[0] for k in kept):
            kept.append(hit)
    return sorted(kept)


@pytest.mark.parametrize("seed", range(5))
def test_overlap_resolution_matches_its_definition(seed):
    # Hits as the automaton reports them: in the order of their ends, nested ones ("Đồng
    # Nai" in "tỉnh Đồng Nai") and partly overlapping ones, the cases the fast path handles
    # and those it hands back to the sort.
    rng = random.Random(seed)
    for _ in range(500):
        spans = set()
        for _ in range(rng.randint(2, 7)):
            start = rng.randint(0, 30)
            spans.add((start, start + rng.randint(1, 12)))
        hits = sorted(spans, key=lambda h: (h[1], h[0] if rng.random() < 0.5 else -h[0]))
        hits = [(start, end, f"entry{start}-{end}") for start, end in hits]
        assert _longest_first(list(hits)) == _greedy_longest_first(hits)


def test_chi_only_is_not_the_person_title_chi():
    assert names("Giao chỉ Hà Nội thôi") == [("Hà Nội", "LOC", "Hà Nội")]


def test_old_style_tone_marks_and_decomposed_text():
    assert names("Khánh Hoà") == [("Khánh Hoà", "LOC", "Khánh Hòa")]
    text = unicodedata.normalize("NFD", "Kho ở Đà Nẵng và Huế")
    spans = GAZ.extract(make_doc(text))
    assert [unicodedata.normalize("NFC", text[s.start:s.end]) for s in spans] == ["Đà Nẵng", "Huế"]


def _custom(tmp_path, lists_yaml: str, files: dict[str, str]):
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    conf = tmp_path / "gaz.yaml"
    conf.write_text(f"directory: {tmp_path}\n{lists_yaml}", encoding="utf-8")
    return build_gazetteer({"conf_path": str(conf)})


def test_custom_lists_and_options(tmp_path):
    gaz = _custom(tmp_path, """lists:
  - {file: shops.txt, label: ORG, case_sensitive: true, ignore_diacritics: false}
  - {file: products.txt, label: PRODUCT, case_sensitive: false, ignore_diacritics: true}
""", {"shops.txt": "# shops\nCửa hàng Ánh Dương\tÁnh Dương\n", "products.txt": "Áo thun\n"})
    assert gaz.labels == ("ORG", "PRODUCT")
    assert names("Ánh Dương bán ao thun", gaz) == [("Ánh Dương", "ORG", "Cửa hàng Ánh Dương"), ("ao thun", "PRODUCT", "Áo thun")]
    assert names("anh dương bán", gaz) == []  # case-sensitive and diacritics required


@pytest.mark.parametrize("lists_yaml, files, message", [
    ("lists:\n  - {file: a.txt, label: ORG}\n", {"a.txt": "A\tB\tC\n"}, "line 1"),
    ("lists:\n  - {file: missing.txt, label: ORG}\n", {}, "cannot read term list"),
    ("lists:\n  - {file: a.txt, label: BANK}\n", {"a.txt": "A\n"}, "BANK"),
    ("lists: []\n", {}, "at least one"),
])
def test_bad_lists_fail_clearly(tmp_path, lists_yaml, files, message):
    with pytest.raises(ConfigError, match=message):
        _custom(tmp_path, lists_yaml, files)


@pytest.mark.parametrize("text, expected", [
    ("Sở Y tế Hà Nội họp báo", []),
    ("CDC tỉnh Bình Định khuyến cáo", []),
    ("Công an quận 1 thông báo", []),
    ("Samsung Việt Nam tuyển dụng", []),
    ("In Vietnam, rain is heavy", [("Vietnam", "LOC", "Việt Nam")]),
    ("shipper Hoàng Mỹ Trâm gọi", []),
    ("Nguyễn Thị Huế lớp 9A", []),
    ("Thời tiết Huế hôm nay", [("Huế", "LOC", "Huế")]),
    ("Mở VCB Digibank bị lỗi", []),
    ("Em ở tỉnh Nghệ An", [("tỉnh Nghệ An", "LOC", "Nghệ An")]),
    ("từ thủ đô Hà Nội vào thành phố Đà Nẵng", [("thủ đô Hà Nội", "LOC", "Hà Nội"), ("thành phố Đà Nẵng", "LOC", "Đà Nẵng")]),
])
def test_context_rules(text, expected):
    assert names(text) == expected
