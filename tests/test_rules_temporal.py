"""The `temporal` rule extractor: DATE, TIME and DURATION with ISO-8601 values."""
from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.base import RULE_FACTORIES
from nerlake.udfs.rules.temporal import build_temporal
from nerlake.udfs.textnorm import make_doc
from rule_checks import assert_benchmark_targets, assert_generated_records_keep_offsets

REF = date(2024, 3, 12)  # a Tuesday, ISO week 11
BENCHMARK = Path(__file__).parent / "data" / "rules_benchmark" / "temporal.jsonl"


@pytest.fixture(scope="module")
def temporal():
    return build_temporal({})


def found(extractor, text, ref=REF):
    """(surface text, label, normalized) of every span, in document order."""
    spans = sorted(extractor.extract(make_doc(text, ref)), key=lambda s: s.start)
    return [(text[s.start:s.end], s.label, s.normalized) for s in spans]


@pytest.mark.parametrize("text, expected", [
    # numeric and verbose dates
    ("Em đặt hàng ngày 12/3/2024 rồi", [("ngày 12/3/2024", "DATE", "2024-03-12")]),
    ("Hạn chót 12-03-2024 nhé", [("12-03-2024", "DATE", "2024-03-12")]),
    ("Giao giúp em trước 15/03 nha", [("15/03", "DATE", "2024-03-15")]),
    ("Hạn sử dụng 12.03.2025", [("12.03.2025", "DATE", "2025-03-12")]),
    ("Ký ngày 12 tháng 3 năm 2024", [("ngày 12 tháng 3 năm 2024", "DATE", "2024-03-12")]),
    ("Doanh thu tháng 3/2024 tăng", [("tháng 3/2024", "DATE", "2024-03")]),
    ("Khởi công tháng 3 năm 2024", [("tháng 3 năm 2024", "DATE", "2024-03")]),
    ("Năm 2024 mở thêm chi nhánh", [("Năm 2024", "DATE", "2024")]),
    ("HSD 03/2025", [("03/2025", "DATE", "2025-03")]),
    ("GDP quý 1/2024 tăng", [("quý 1/2024", "DATE", "2024-Q1")]),
    ("chuyển tiền ngày 12 nhé", [("ngày 12", "DATE", "2024-03-12")]),
    # relative dates
    ("Hôm qua em gọi mãi", [("Hôm qua", "DATE", "2024-03-11")]),
    ("hôm nay có giao không", [("hôm nay", "DATE", "2024-03-12")]),
    ("Ngày mai giao nhé", [("Ngày mai", "DATE", "2024-03-13")]),
    ("ngày kia em mới ở nhà", [("ngày kia", "DATE", "2024-03-14")]),
    ("hom qua minh chuyen roi", [("hom qua", "DATE", "2024-03-11")]),
    ("Tuần trước em chuyển rồi", [("Tuần trước", "DATE", "2024-W10")]),
    ("tuần sau mới có hàng", [("tuần sau", "DATE", "2024-W12")]),
    ("Tháng trước lương về chậm", [("Tháng trước", "DATE", "2024-02")]),
    ("Năm ngoái bán chạy", [("Năm ngoái", "DATE", "2023")]),
    ("Thứ 2 tuần sau qua lấy", [("Thứ 2 tuần sau", "DATE", "2024-03-18")]),
    ("thứ sáu này rảnh", [("thứ sáu này", "DATE", "2024-03-15")]),
    ("Hàng đặt 3 ngày trước", [("3 ngày trước", "DATE", "2024-03-09")]),
    ("cách đây 2 tuần em có mua", [("cách đây 2 tuần", "DATE", "2024-W09")]),
    ("2 tuần nữa mới có hàng", [("2 tuần nữa", "DATE", "2024-W13")]),
    # clock times and date-times
    ("Khoảng 3 giờ chiều shipper gọi", [("3 giờ chiều", "TIME", "T15:00")]),
    ("Mở cửa lúc 15h30", [("15h30", "TIME", "T15:30")]),
    ("Họp lúc 15:30", [("15:30", "TIME", "T15:30")]),
    ("8 giờ sáng mai xe chạy", [("8 giờ sáng mai", "TIME", "2024-03-13T08:00")]),
    ("11 giờ đêm vẫn gọi", [("11 giờ đêm", "TIME", "T23:00")]),
    ("đến lúc 3 giờ kém 15", [("3 giờ kém 15", "TIME", "T02:45")]),
    ("Tối nay 8h anh qua", [("Tối nay 8h", "TIME", "2024-03-12T20:00")]),
    ("Mai 8h em qua nha", [("Mai 8h", "TIME", "2024-03-13T08:00")]),
    ("hẹn chiều thứ 6 lúc 4 giờ", [("chiều thứ 6 lúc 4 giờ", "TIME", "2024-03-15T16:00")]),
    ("15h30 ngày 12/3 livestream", [("15h30 ngày 12/3", "TIME", "2024-03-12T15:30")]),
    ("Sáng nay em gửi rồi", [("Sáng nay", "TIME", "2024-03-12TMO")]),
    # ranges
    ("Kho làm từ 8h đến 17h", [("từ 8h đến 17h", "TIME", "T08:00/T17:00")]),
    ("Giờ làm 8h-17h nhé", [("8h-17h", "TIME", "T08:00/T17:00")]),
    ("Khuyến mãi từ ngày 12/3 đến 15/3", [("từ ngày 12/3 đến 15/3", "DATE", "2024-03-12/2024-03-15")]),
    ("Sale 12-15/3 nhé", [("12-15/3", "DATE", "2024-03-12/2024-03-15")]),
    ("Làm từ thứ 2 đến thứ 6", [("từ thứ 2 đến thứ 6", "DATE", "2024-03-11/2024-03-15")]),
    ("Nghỉ 28/12 - 2/1/2025", [("28/12 - 2/1/2025", "DATE", "2024-12-28/2025-01-02")]),
    # durations
    ("Giao trong 3 ngày", [("3 ngày", "DURATION", "P3D")]),
    ("Đổi trả trong 2 tuần", [("2 tuần", "DURATION", "P2W")]),
    ("Chờ 45 phút rồi", [("45 phút", "DURATION", "PT45M")]),
    ("mất khoảng 1 tiếng rưỡi", [("1 tiếng rưỡi", "DURATION", "PT1H30M")]),
    ("kéo dài 1 tiếng 20 phút", [("1 tiếng 20 phút", "DURATION", "PT1H20M")]),
    ("Mất 2 giờ mới tới", [("2 giờ", "DURATION", "PT2H")]),
    ("Nửa tiếng nữa anh tới", [("Nửa tiếng", "DURATION", "PT30M")]),
    ("Xử lý 2-3 ngày làm việc", [("2-3 ngày", "DURATION", "P2D/P3D")]),
    ("nghỉ vài ngày", [("vài ngày", "DURATION", "PXD")]),
    ("Giao nhanh 24h toàn quốc", [("24h", "DURATION", "PT24H")]),
    # English
    ("Shipped on March 12, 2024.", [("March 12, 2024", "DATE", "2024-03-12")]),
    ("Invoice date 12 March 2024", [("12 March 2024", "DATE", "2024-03-12")]),
    ("Generated 2024-03-12 by the system", [("2024-03-12", "DATE", "2024-03-12")]),
    ("I called yesterday", [("yesterday", "DATE", "2024-03-11")]),
    ("Deliver tomorrow please", [("tomorrow", "DATE", "2024-03-13")]),
    ("We restock next week", [("next week", "DATE", "2024-W12")]),
    ("Pick up at 3pm", [("3pm", "TIME", "T15:00")]),
    ("It takes 3 days", [("3 days", "DURATION", "P3D")]),
    ("Open 8am to 5pm", [("8am to 5pm", "TIME", "T08:00/T17:00")]),
    ("Deadline 03/15/2024", [("03/15/2024", "DATE", "2024-03-15")]),
    ("Clinic open between 10am and 6pm", [("between 10am and 6pm", "TIME", "T10:00/T18:00")]),
    ("discharged after an hour", [("an hour", "DURATION", "PT1H")]),
    # modifiers, quarters, abbreviations
    ("ra mắt đầu tuần này", [("đầu tuần này", "DATE", "2024-W11")]),
    ("Cuối tuần này nghỉ", [("Cuối tuần này", "DATE", "2024-W11-WE")]),
    ("hết hạn cuối tháng 3", [("cuối tháng 3", "DATE", "2024-03")]),
    ("xuất viện CN tuần trước", [("CN tuần trước", "DATE", "2024-03-10")]),
    ("Thứ 4 vừa qua em ghé", [("Thứ 4 vừa qua", "DATE", "2024-03-06")]),
    ("Tuần sau nữa có hàng", [("Tuần sau nữa", "DATE", "2024-W13")]),
    # written without diacritics
    ("hom qua minh chuyen roi", [("hom qua", "DATE", "2024-03-11")]),
    ("giao truoc 5 gio chieu mai nhe", [("5 gio chieu mai", "TIME", "2024-03-13T17:00")]),
    ("giao trong 3 ngay lam viec", [("3 ngay", "DURATION", "P3D")]),
    ("hen 9h sang thu 7 tuan nay", [("9h sang thu 7 tuan nay", "TIME", "2024-03-16T09:00")]),
    ("8h toi se qua lay", [("8h", "TIME", "T08:00")]),  # "toi" is "tôi" (I) here, not evening
    # some words typed without diacritics inside an otherwise accented record
    ("giao tu 7:00 den 17:00 nhé", [("tu 7:00 den 17:00", "TIME", "T07:00/T17:00")]),
    ("hẹn 3 gio chieu nhé", [("3 gio chieu", "TIME", "T15:00")]),
    ("chờ 54 phut rồi", [("54 phut", "DURATION", "PT54M")]),
    # capitalised inside a sentence, a cue word is part of a name
    ("về sân bay Nội Bài thứ năm tuần trước", [("thứ năm tuần trước", "DATE", "2024-03-07")]),
    ("chuyển lên Bệnh viện Bạch Mai lúc 17:00 ngày 18/3", [("17:00 ngày 18/3", "TIME", "2024-03-18T17:00")]),
    ("Mai lúc 8h em qua", [("Mai lúc 8h", "TIME", "2024-03-13T08:00")]),
    # a number is not the count of a duration when it ends a name or follows a currency sign
    ("nhập viện Nhi Đồng 1 ngày 10 tháng 2", [("ngày 10 tháng 2", "DATE", "2024-02-10")]),
    ("giao dịch $1200 tháng trước", [("tháng trước", "DATE", "2024-02")]),
])
def test_extracts_and_normalises(temporal, text, expected):
    assert found(temporal, text) == expected


@pytest.mark.parametrize("text", [
    "Cập nhật lên phiên bản 2.10 để sửa lỗi",
    "Máy chạy iOS 17.4, app v1.2.3 bị lỗi",
    "Chung kết tỉ số 2-1",
    "Việt Nam thắng 3-0",
    "Bài kiểm tra được 3/5 điểm",
    "Khách đánh giá 4/5 cho sản phẩm",
    "Trộn 1/2 cốc sữa",
    "Khoảng 3/4 bệnh nhân hồi phục",
    "Tỷ lệ pha 1:10 với nước",
    "Ngày 32/13/2024 không hợp lệ",
    "Hết hạn 31/04/2024",
    "Ngày 29/2/2023 bị từ chối",
    "Liên hệ 0912.345.678",
    "Giá 1.250.000đ đã gồm VAT",
    "Tấm kính 2,16 m x 1,2 m",
    "Hỗ trợ 24/7",
    "Nhà ở số 12/3 Lê Lợi",
    "Con học lớp 10/2",
    "Lần thứ 2 em nhắn rồi",
    "Thứ hai, sản phẩm phải còn tem",
    "Sinh viên năm 3",
    "Chị Mai gọi lại nhé",
    "Tuyến xe 03-12 qua trung tâm",
    "Uống ngày 2 lần",
    "lương tháng 13",
    "Đơn #12032024 đã xác nhận",
    "Chi nhánh CN Quận 3",
    "Lien he toi qua so nay nhe",  # "tôi qua": me via, not last night
    "Ngan hang Viet Nam truoc day",  # "Nam truoc" inside a name
    "mắc COVID-19 nặng",
    "cả tu viện đều biết",  # "tu" opens a range only before one
    "gió 3 cấp",
])
def test_not_temporal(temporal, text):
    assert found(temporal, text) == []


def test_relative_expressions_without_ref_date_are_kept_unresolved(temporal):
    text = "Hôm qua đặt, ngày 12/3/2024 giao, tuần sau đổi, hẹn 12/3"
    assert found(temporal, text, ref=None) == [
        ("Hôm qua", "DATE", None),
        ("ngày 12/3/2024", "DATE", "2024-03-12"),
        ("tuần sau", "DATE", None),
        ("12/3", "DATE", None),  # no year and nothing to take it from
    ]


@pytest.mark.parametrize("ref, text, value", [
    (date(2024, 12, 28), "giao lại từ 5/1 nhé", "2025-01-05"),
    (date(2025, 1, 3), "đơn đặt ngày 20/12", "2024-12-20"),
    (date(2024, 3, 12), "ngày 2 chuyển tiền", "2024-03-02"),
    (date(2024, 12, 20), "tháng 1 có hàng", "2025-01"),
])
def test_a_date_without_year_takes_the_nearest_year(temporal, ref, text, value):
    assert [v for _, _, v in found(temporal, text, ref=ref)] == [value]


def test_offsets_index_the_original_text_when_it_is_decomposed(temporal):
    text = unicodedata.normalize("NFD", "Hôm qua lúc 3 giờ chiều, ngày 12 tháng 3")
    spans = temporal.extract(make_doc(text, REF))
    surfaces = [unicodedata.normalize("NFC", text[s.start:s.end]) for s in spans]
    assert surfaces == ["Hôm qua lúc 3 giờ chiều", "ngày 12 tháng 3"]
    assert spans[0].normalized == "2024-03-11T15:00"


def test_spans_carry_the_rule_contract(temporal):
    spans = temporal.extract(make_doc("Giao 8h sáng mai, chậm nhất 3 ngày", REF))
    assert spans
    for span in spans:
        assert span.label in temporal.labels and span.source == "rule" and span.rule == "temporal"
        assert 0 < span.score <= 1


def test_numeric_order_can_be_month_first(tmp_path):
    default = Path(__file__).parents[1] / "conf" / "rules" / "temporal.yaml"
    conf = tmp_path / "temporal.yaml"
    conf.write_text(default.read_text(encoding="utf-8").replace(
        "numeric_date_order: day_first", "numeric_date_order: month_first"), encoding="utf-8")
    extractor = build_temporal({"conf_path": str(conf)})
    assert found(extractor, "Due 03/04/2024") == [("03/04/2024", "DATE", "2024-03-04")]


@pytest.mark.parametrize("options, message", [
    ({"conf_pth": "x"}, "unknown key rules.options.temporal.conf_pth"),
    ({"conf_path": "/no/such/file.yaml"}, "conf_path: cannot read"),
])
def test_bad_options_are_reported(options, message):
    with pytest.raises(ConfigError, match=message):
        build_temporal(options)


@pytest.mark.parametrize("replace, message", [
    ("  january: 1\n", "  january: 13\n"),
    ("numeric_date_order: day_first", "numeric_date_order: sideways"),
])
def test_bad_vocabulary_is_reported(tmp_path, replace, message):
    default = Path(__file__).parents[1] / "conf" / "rules" / "temporal.yaml"
    conf = tmp_path / "temporal.yaml"
    conf.write_text(default.read_text(encoding="utf-8").replace(replace, message), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"temporal\.(months|numeric_date_order)"):
        build_temporal({"conf_path": str(conf)})


def test_registered_under_its_name():
    extractor = RULE_FACTORIES["temporal"]({})
    assert extractor.name == "temporal" and extractor.labels == ("DATE", "TIME", "DURATION")


_PIECES = st.sampled_from([
    "ngày", "12/3", "2024", "15h30", "từ", "đến", "-", "3", "trước", "nữa", "tháng", "năm", "thứ",
    "hai", "tuần", "sau", "sáng", "mai", "8h", "kém", "rưỡi", "cách đây", "March", "12,", "29/2",
    "99:99", "24h", "/", ".", ":", "0", "9999-12-31", "quý", "tối", "giờ", "phút", " ",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=14),
       st.sampled_from([None, REF, date(1, 1, 1), date(9999, 12, 31)]))
def test_never_raises_and_spans_stay_inside_the_text(temporal, pieces, ref):
    text = " ".join(pieces)
    for span in temporal.extract(make_doc(text, ref)):
        assert 0 <= span.start < span.end <= len(text)


def test_benchmark_targets(temporal):
    assert_benchmark_targets(temporal, BENCHMARK, ("DATE", "TIME", "DURATION"))


def test_generated_records_never_raise_and_keep_offsets(temporal):
    assert_generated_records_keep_offsets(temporal)
