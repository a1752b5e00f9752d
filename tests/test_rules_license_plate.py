"""LICENSE_PLATE extractor."""
from __future__ import annotations

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.rules.license_plate import build_license_plate
from nerlake.udfs.textnorm import make_doc

PLATES = build_license_plate({})


def plates(text: str, extractor=PLATES) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.normalized) for s in extractor.extract(make_doc(text))]


@pytest.mark.parametrize("surface, normalized", [
    ("51F-123.45", "51F-123.45"),
    ("29A1-234.56", "29A1-234.56"),
    ("30E-12345", "30E-123.45"),
    ("51F12345", "51F-123.45"),
    ("51F 123.45", "51F-123.45"),
    ("51A 99999", "51A-999.99"),
    ("59-H1 123.45", "59H1-123.45"),
    ("51LD-123.45", "51LD-123.45"),
    ("29A-1234", "29A-1234"),
    ("51f-123.45", "51F-123.45"),
    ("29a1-23456", "29A1-234.56"),
    ("29A123456", "29A1-234.56"),
    ("15C-098.76", "15C-098.76"),
])
def test_plate_writings(surface, normalized):
    assert plates(f"Xe biển số {surface} vượt đèn đỏ.") == [(surface, normalized)]


@pytest.mark.parametrize("text", [
    "Căn hộ 15A-08 tầng 15", "Áo size 29A, quần 30", "Mã vận đơn SPX-HCM-512345678",
    "iPhone 15 Pro Max 256GB", "Mã 01A-123.45", "Mã 13A-123.45", "Ngày 12-03-2024 thắng 3-0",
    "khu 7A-101", "Giá 51.000đ, mã 51F", "Tỷ số 51-49", "29O-123.45", "51F-123456",
])
def test_not_plates(text):
    assert plates(text) == []


def test_confidence_and_metadata():
    [cued] = PLATES.extract(make_doc("BKS 43A-567.89"))
    [bare] = PLATES.extract(make_doc("Hôm nay 43A-567.89"))
    assert (cued.score, bare.score) == (0.97, 0.85)
    assert cued.label == "LICENSE_PLATE" and cued.rule == "license_plate"


def test_province_table_is_configurable(tmp_path):
    conf = tmp_path / "plates.yaml"
    conf.write_text("provinces: {51: TP. HCM}\n", encoding="utf-8")
    only_51 = build_license_plate({"conf_path": str(conf)})
    assert plates("51F-123.45 và 29A-123.45", only_51) == [("51F-123.45", "51F-123.45")]
    with pytest.raises(ConfigError, match="provinces"):
        build_license_plate({"provinces": {5: "x"}})
    with pytest.raises(ConfigError, match="series_letters"):
        build_license_plate({"series_letters": "ab"})
