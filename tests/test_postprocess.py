"""Span repair functions (udfs/postprocess.py): boundaries, names, addresses, lists, label groups."""
from __future__ import annotations

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.labels import LABELS
from nerlake.udfs.postprocess import (FineLabels, collapse_labels, extend_address, extend_name, load_label_groups,
                                      load_lexicon, repair_boundaries, split_list, trim_span)
from nerlake.udfs.spans import Span

LEX = load_lexicon()


def locate(text: str, sub: str) -> tuple[int, int]:
    start = text.index(sub)
    return start, start + len(sub)


def cut(text: str, offsets) -> str | None:
    return None if offsets is None else text[offsets[0]:offsets[1]]


# ---------------------------------------------------------------- boundaries

@pytest.mark.parametrize("text, given, expected", [
    ("Chuyển qua VietinBank nhé", "Vietin", "VietinBank"),  # subword piece of the model
    ("Chuyển qua VietinBank nhé", "inBank", "VietinBank"),
    ("Gặp Phạm Minh Chính hôm qua", "hạm Minh Chí", "Phạm Minh Chính"),
    ("Gặp ông Lan, chiều nay", " Lan, ", "Lan"),
    ("Hãng (Vietjet) bay", "(Vietjet)", "Vietjet"),
    ("Công ty ABC (Việt Nam) báo", "Công ty ABC (Việt Nam)", "Công ty ABC (Việt Nam)"),
    ("Tổng đài (84) 28 3822 xin", "(84) 28 3822", "(84) 28 3822"),
    ("“Mái ấm”, ", "“Mái ấm”, ", "Mái ấm"),
    ("Công ty ABC Co., Ltd. xin", "Công ty ABC Co., Ltd. ", "Công ty ABC Co., Ltd."),
    ("Đến Hà Nội. Xong", "Hà Nội.", "Hà Nội"),
    ("Giá $50 nhé", "$50", "$50"),  # currency signs are not punctuation
    ("giảm 50% hôm nay", "50%", "50%"),
    ("nhiệt độ -5 độ", "-5 độ", "-5 độ"),
    ("xem   ,  .  rồi", "   ,  .  ", None),  # nothing left
])
def test_repair_boundaries(text, given, expected):
    assert cut(text, repair_boundaries(text, *locate(text, given), LEX)) == expected


def test_repair_never_crosses_whitespace():
    text = "Ngân hàng VietinBank"
    start, end = locate(text, "hàng")
    assert cut(text, repair_boundaries(text, start, end, LEX)) == "hàng"


@pytest.mark.parametrize("given, expected", [(" (VCB) ", "VCB"), ("[[ABC]", "ABC"), ("ABC)", "ABC"), ("...", None)])
def test_trim_span(given, expected):
    assert cut(given, trim_span(given, 0, len(given), LEX)) == expected


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("text, given, label, expected", [
    ("Phạm Minh Chính phát biểu tại hội nghị", "Phạm", "PER", "Phạm Minh Chính"),
    ("Thủ tướng Phạm Minh Chính phát biểu", "Minh Chính", "PER", "Phạm Minh Chính"),
    ("Ông Phạm Minh Chính phát biểu", "Minh Chính", "PER", "Phạm Minh Chính"),  # title left out
    ("Bác Sĩ Nguyễn Văn An khám", "Nguyễn Văn", "PER", "Nguyễn Văn An"),  # capitalised title left out
    ("Nguyễn Tuấn Anh đến sớm", "Nguyễn Tuấn", "PER", "Nguyễn Tuấn Anh"),  # "Anh" as a given name
    ("Hôm nay Lan đi học", "Lan", "PER", "Lan"),
    ("Tại Hà Nội trời mưa", "Hà Nội", "LOC", "Hà Nội"),  # sentence-initial preposition
    ("Phạm. Minh Chính", "Phạm", "PER", "Phạm"),  # sentence boundary
    ("Phạm\nMinh Chính", "Phạm", "PER", "Phạm"),  # line break
    ("Lan Công ty ABC", "Lan", "PER", "Lan"),  # "Công ty" never part of a PER
    ("Chuyển Ngân Hàng Vietcombank", "Vietcombank", "ORG", "Ngân Hàng Vietcombank"),
    ("VietinBank Chi nhánh Hà Nội", "VietinBank", "ORG", "VietinBank"),
    ("Đi Thành Phố Hồ Chí Minh", "Hồ Chí Minh", "LOC", "Thành Phố Hồ Chí Minh"),
    ("Anh Nguyễn Văn Bình Minh Tâm Đức Hạnh", "Nguyễn", "PER", "Nguyễn Văn Bình Minh Tâm"),  # 5 syllables at most
    ("Gặp Phạm, Minh", "Phạm", "PER", "Phạm"),
])
def test_extend_name(text, given, label, expected):
    assert cut(text, extend_name(text, *locate(text, given), label, LEX)) == expected


def test_extend_name_stops_at_spans_of_other_labels():
    text = "Vinamilk Hà Nội tuyển dụng"
    blocked = [locate(text, "Hà Nội")]
    assert cut(text, extend_name(text, *locate(text, "Vinamilk"), "ORG", LEX, blocked)) == "Vinamilk"
    assert cut(text, extend_name(text, *locate(text, "Vinamilk"), "ORG", LEX)) == "Vinamilk Hà Nội"


# ---------------------------------------------------------------- addresses

@pytest.mark.parametrize("text, given, full, expected", [
    ("Gặp ở tòa nhà Avalon, quận 1 nhé", "tòa nhà Avalon", False, "tòa nhà Avalon, quận 1"),
    ("Giao 12 Lê Lợi, Q.1, TP. HCM giúp", "12 Lê Lợi", True, "12 Lê Lợi, Q.1, TP. HCM"),
    ("Giao 12 Lê Lợi, phường Bến Nghé, quận 1, tp Hồ Chí Minh.", "12 Lê Lợi", True,
     "12 Lê Lợi, phường Bến Nghé, quận 1, tp Hồ Chí Minh"),
    ("Giao 12 Lê Lợi, Hà Nội", "12 Lê Lợi", True, "12 Lê Lợi, Hà Nội"),
    ("Giao 12 Lê Lợi - Phường 5 - Quận 3", "12 Lê Lợi", True, "12 Lê Lợi - Phường 5 - Quận 3"),
    ("Giao 12 Lê Lợi quận 1 nhé", "12 Lê Lợi", True, "12 Lê Lợi quận 1"),  # keyword after a space
    ("Giao 12 Lê Lợi Hà Nội nhé", "12 Lê Lợi", True, "12 Lê Lợi"),  # bare place needs a separator
    ("số 5 ngõ 10, P.5, Q. Bình Thạnh, TPHCM", "số 5 ngõ 10", True, "số 5 ngõ 10, P.5, Q. Bình Thạnh, TPHCM"),
    ("12 Le Loi, thanh pho Ho Chi Minh", "12 Le Loi", True, "12 Le Loi, thanh pho Ho Chi Minh"),  # unaccented
    ("12 Điện Biên Phủ, quận Bình Thạnh", "12 Điện Biên Phủ", True, "12 Điện Biên Phủ, quận Bình Thạnh"),
    ("quận Ba Đình, Hà Nội, Việt Nam", "quận Ba Đình", False, "quận Ba Đình, Hà Nội, Việt Nam"),
    ("Quận 1, Quận 3 và Quận 5", "Quận 1", False, "Quận 1"),  # same level: a list
    ("phường 5, phường 6", "phường 5", True, "phường 5"),
    ("Hà Nội, Đà Nẵng và Huế", "Hà Nội", False, "Hà Nội"),
    ("Nha Trang, Đà Nẵng", "Nha Trang", False, "Nha Trang"),  # unknown place: never glued to a bare place
    ("Giao 12 Lê Lợi, xa Hà Nội", "12 Lê Lợi", True, "12 Lê Lợi"),
])
def test_extend_address(text, given, full, expected):
    assert cut(text, extend_address(text, *locate(text, given), LEX, full_address=full)) == expected


# ---------------------------------------------------------------- lists

@pytest.mark.parametrize("text, label, expected", [
    ("Agribank, VietinBank, BIDV", "ORG", ["Agribank", "VietinBank", "BIDV"]),
    ("Agribank, VietinBank, và BIDV", "ORG", ["Agribank", "VietinBank", "BIDV"]),
    ("Hà Nội và Đà Nẵng", "LOC", ["Hà Nội", "Đà Nẵng"]),
    ("Hà Nội hoặc Huế", "LOC", ["Hà Nội", "Huế"]),
    ("Quận 1, Quận 3", "LOC", ["Quận 1", "Quận 3"]),
    ("Nguyễn Văn An và Trần Thị Bình", "PER", ["Nguyễn Văn An", "Trần Thị Bình"]),
    ("Ngân hàng ACB và Ngân hàng BIDV", "ORG", ["Ngân hàng ACB", "Ngân hàng BIDV"]),
    ("Vietcombank, Ngân hàng Nông nghiệp và Phát triển Nông thôn", "ORG",
     ["Vietcombank", "Ngân hàng Nông nghiệp và Phát triển Nông thôn"]),
    ("iPhone 15, Samsung S24", "PRODUCT", ["iPhone 15", "Samsung S24"]),
    ("2,16 m * 1,2 m", "QUANTITY", ["2,16 m", "1,2 m"]),
    ("2,16 x 1,2 m", "QUANTITY", ["2,16", "1,2 m"]),
    ("2 x 3 x 4 cm", "QUANTITY", ["2", "3", "4 cm"]),
    ("100.000đ, 200.000đ", "MONEY", ["100.000đ", "200.000đ"]),
    # not lists
    ("1,2 triệu", "MONEY", ["1,2 triệu"]),  # decimal comma
    ("1-2 triệu", "MONEY", ["1-2 triệu"]),  # a range
    ("12 Lê Lợi, quận 1", "ADDRESS", ["12 Lê Lợi, quận 1"]),
    ("phường Bến Nghé, quận 1", "LOC", ["phường Bến Nghé, quận 1"]),
    ("Hà Nội, Việt Nam", "LOC", ["Hà Nội, Việt Nam"]),
    ("Công ty ABC Co., Ltd", "ORG", ["Công ty ABC Co., Ltd"]),
    ("Bộ Văn hóa, Thể thao và Du lịch", "ORG", ["Bộ Văn hóa, Thể thao và Du lịch"]),
    ("Ngân hàng Nông nghiệp và Phát triển Nông thôn", "ORG", ["Ngân hàng Nông nghiệp và Phát triển Nông thôn"]),
    ("Lan và em", "PER", ["Lan và em"]),  # "em" does not stand alone as a PER
    ("size XL", "QUANTITY", ["size XL"]),
    ("Trần Văn Và", "PER", ["Trần Văn Và"]),  # conjunctions are lower-case
])
def test_split_list(text, label, expected):
    assert [text[s:e] for s, e in split_list(text, 0, len(text), label, LEX)] == expected


def test_split_list_inside_a_record():
    text = "Khách quen của Agribank, BIDV."
    start, end = locate(text, "Agribank, BIDV")
    assert [text[s:e] for s, e in split_list(text, start, end, "ORG", LEX)] == ["Agribank", "BIDV"]


# ---------------------------------------------------------------- label groups

def test_packaged_label_groups():
    groups = load_label_groups()
    assert set(groups["BODY_MEASUREMENT"]) == {"CHEST", "WAIST", "HIP"}
    assert "vòng ngực" in groups["BODY_MEASUREMENT"]["CHEST"]
    groups["BODY_MEASUREMENT"].clear()  # a fresh copy each call
    assert load_label_groups()["BODY_MEASUREMENT"]


@pytest.mark.parametrize("given, expected", [
    (["O", "B-CHEST", "I-CHEST", "B-PER", "I-HIP"], ["O", "B-BODY_MEASUREMENT", "I-BODY_MEASUREMENT", "B-PER",
                                                     "I-BODY_MEASUREMENT"]),
    (["WAIST", "ORG", "BODY_MEASUREMENT"], ["BODY_MEASUREMENT", "ORG", "BODY_MEASUREMENT"]),
    ([], []),
])
def test_collapse_bio_labels(given, expected):
    assert collapse_labels(given, load_label_groups()) == expected


def test_collapse_spans():
    spans = [Span(0, 2, "CHEST", 0.5, "model"), Span(3, 5, "PER")]
    assert collapse_labels(spans, load_label_groups()) == [Span(0, 2, "BODY_MEASUREMENT", 0.5, "model"), spans[1]]
    with pytest.raises(TypeError, match="Span or str"):
        collapse_labels([("CHEST", 1)], load_label_groups())


@pytest.mark.parametrize("text, expected", [
    ("vòng ngực 86 cm", "CHEST"),
    ("Vòng 2: 64 cm", "WAIST"),
    ("vong mong 90", "HIP"),
    ("ngực 86, eo 64", "WAIST"),  # the nearest keyword
    ("không 90", None),  # "hông" inside "không" is no keyword
    ("mong shop 90", None),  # "mong" (hope) is not "mông"
    ("cao 160 cm", None),
])
def test_fine_label(text, expected):
    fine = FineLabels(load_label_groups())
    assert fine.fine_label(text, "BODY_MEASUREMENT", 0, len(text)) == expected


def test_fine_label_window_start_is_respected():
    text = "vòng ngực 86 cm rồi 90"
    fine = FineLabels(load_label_groups())
    assert fine.fine_label(text, "BODY_MEASUREMENT", text.index("86"), len(text)) is None


@pytest.mark.parametrize("content, message", [
    ("BODY_MEASUREMENT: {CHEST: [ngực]}\nFOO: {HIP: [mông]}\n", "label_groups.FOO: unknown label"),
    ("BODY_MEASUREMENT: {CHEST: ngực}\n", "expected a list of keywords"),
    ("BODY_MEASUREMENT: {CHEST: [ngực]}\nQUANTITY: {CHEST: [v1]}\n", "already a fine label of BODY_MEASUREMENT"),
    ("[1, 2]\n", "must map group labels"),
    ("BODY_MEASUREMENT: {CHEST: [ngực\n", "not valid YAML"),
])
def test_bad_label_groups(tmp_path, content, message):
    path = tmp_path / "groups.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_label_groups(str(path))


def test_missing_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="label_groups_path: cannot read"):
        load_label_groups(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="lexicon_path: cannot read"):
        load_lexicon(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("content, message", [
    ("boundaries: {}\nnames: {}\naddresses: {}\n", "lacks section 'lists'"),
    ("boundaries: {trim_chars: 3}\nnames: {}\naddresses: {}\nlists: {}\n", "merge_lexicon.boundaries.trim_chars"),
    ("boundaries: {}\nnames: {nick: []}\naddresses: {}\nlists: {}\n", "unknown key merge_lexicon.names.nick"),
    ("boundaries: {}\nnames: {}\naddresses: {separators: [', ']}\nlists: {}\n", "not one character"),
])
def test_bad_lexicon(tmp_path, content, message):
    path = tmp_path / "lexicon.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_lexicon(str(path))


def test_label_groups_only_name_known_labels():
    for group, fines in load_label_groups().items():
        assert group in LABELS and set(fines) <= set(LABELS)
