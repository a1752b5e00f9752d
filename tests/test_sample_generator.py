"""Tests for the synthetic Vietnamese sample generator."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter

import phonenumbers
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nerlake.udfs import sample_generator as sg
from nerlake.udfs.labels import LABELS

REQUIRED_LABELS = {"PER", "ORG", "LOC", "ADDRESS", "PHONE", "EMAIL", "URL", "ID_NUMBER", "ORDER_CODE",
                   "LICENSE_PLATE", "DATE", "TIME", "DURATION", "MONEY", "QUANTITY", "PRODUCT", "SYMPTOM",
                   "CHEST", "WAIST", "HIP"}

# Official CCCD province codes (Circular 07/2016/TT-BCA), written out here on purpose so that the
# test does not trust the generator's own data file.
CCCD_PROVINCE_CODES = {
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020", "022", "024",
    "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038", "040", "042", "044", "045",
    "046", "048", "049", "051", "052", "054", "056", "058", "060", "062", "064", "066", "067", "068", "070",
    "072", "074", "075", "077", "079", "080", "082", "083", "084", "086", "087", "089", "091", "092", "093",
    "094", "095", "096",
}
# Province plate numbers (Circular 58/2020/TT-BCA, provinces only).
PLATE_CODES = {11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
               36, 37, 38, 39, 40, 41, 43, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
               64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 81, 82, 83, 84, 85, 86, 88, 89,
               90, 92, 93, 94, 95, 97, 98, 99}
ORDER_CODE_DASHED = re.compile(r"[A-Z]{2,4}(?:-[A-Z]{2,3}\d{0,2})?-(?:[1-9]\d{8}|[01]\d{9})")
ORDER_CODE_PLAIN = re.compile(r"[A-Z]{2,4}(?:[1-9]\d{8}|[01]\d{9})")
PLATE = re.compile(r"(\d{2})[A-Z]\d?-(?:\d{3}\.\d{2}|\d{5})")
ID_CUES = ("cccd", "cmnd", "cmt", "căn cước", "định danh", "chứng minh", "can cuoc", "dinh danh", "chung minh")


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(sg.generate_records(2000, seed=42))


def surfaces(records, label):
    return [(rec, rec["text"][g["start"]:g["end"]]) for rec in records for g in rec["gold"] if g["label"] == label]


def defect_kind(record: dict, index: int) -> str | None:
    text = record["text"]
    if text is None:
        return "null_text"
    if not text.strip():
        return "blank_text"
    if len(text) > sg.MAX_TEXT_CHARS:
        return "overlong_text"
    if record["id"] != f"rec-{index:010d}":
        return "duplicate_id"
    return None


# --------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("start,n", [(0, 40), (1, 10), (137, 60), (299, 1)])
def test_chunks_equal_the_same_slice_of_a_full_run(start, n):
    full = list(sg.generate_records(300, seed=7))
    assert list(sg.generate_records(n, seed=7, start=start)) == full[start:start + n]


def test_single_record_equals_stream_and_seeds_differ():
    stream = list(sg.generate_records(5, seed=3, start=1000))
    assert sg.generate_record(1002, seed=3) == stream[2]
    other = list(sg.generate_records(5, seed=4, start=1000))
    assert [r["text"] for r in stream] != [r["text"] for r in other]


def test_same_records_in_another_process():
    # Spark executors generate their chunks in other processes, with other hash seeds.
    code = ("import json; from nerlake.udfs import sample_generator as sg; "
            "print(json.dumps(list(sg.generate_records(200, seed=8, start=50))))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == list(sg.generate_records(200, seed=8, start=50))


# --------------------------------------------------------------------------- gold spans

def test_gold_spans_are_well_formed(sample):
    for rec in sample:
        text, gold = rec["text"], rec["gold"]
        previous_end = 0
        for span in gold:
            assert set(span) == {"start", "end", "label"}
            assert span["label"] in LABELS
            assert previous_end <= span["start"] < span["end"] <= len(text), (rec["id"], span)
            surface = text[span["start"]:span["end"]]
            assert surface.strip() == surface and surface, (rec["id"], surface)
            assert "\n" not in surface
            previous_end = span["end"]


def test_record_fields(sample):
    base = dt.datetime(2024, 3, 12)
    for rec in sample:
        assert set(rec) == {"id", "text", "domain", "lang", "created_at", "gold"}
        assert rec["domain"] in sg.DOMAINS and rec["lang"] in ("vi", "en", "mixed")
        created = dt.datetime.fromisoformat(rec["created_at"])
        assert base - dt.timedelta(days=3) <= created < base + dt.timedelta(days=1)


def test_ids_are_unique_apart_from_injected_duplicates(sample):
    clean = [rec["id"] for i, rec in enumerate(sample) if defect_kind(rec, i) is None]
    assert len(set(clean)) == len(clean)
    assert all(rec["id"] == f"rec-{i:010d}" for i, rec in enumerate(sample) if defect_kind(rec, i) is None)


# --------------------------------------------------------------------------- diversity and noise

def test_sample_is_diverse(sample):
    texts = [rec["text"] for rec in sample if rec["text"]]
    assert len(set(texts)) > 1000
    assert len({s for _, s in surfaces(sample, "PER")}) > 300
    assert {rec["domain"] for rec in sample} == set(sg.DOMAINS)
    assert {rec["lang"] for rec in sample} == {"vi", "en", "mixed"}
    assert REQUIRED_LABELS <= {g["label"] for rec in sample for g in rec["gold"]}
    assert sg.template_count() >= 150


def test_noise_is_present(sample):
    vietnamese = [rec for rec in sample if rec["text"] and rec["lang"] != "en"]
    no_diacritics = [rec for rec in vietnamese if rec["text"].isascii()]
    assert 0.03 * len(vietnamese) < len(no_diacritics) < 0.2 * len(vietnamese)
    chat_words = re.compile(r"(?<!\w)(ko|dc|đc|mk|mik|e|a|r|j|vs|khum|sđt|tks)(?!\w)")
    assert sum(bool(chat_words.search(rec["text"])) for rec in vietnamese) > 50
    assert sum(rec["text"] == rec["text"].lower() for rec in vietnamese) > 20


def test_coordinated_lists_and_multi_part_quantities(sample):
    def has_run(rec, label, joiners, length):
        run = 1
        for a, b in zip(rec["gold"], rec["gold"][1:]):
            joined = a["label"] == b["label"] == label and rec["text"][a["end"]:b["start"]] in joiners
            run = run + 1 if joined else 1
            if run >= length:
                return True
        return False

    assert any(has_run(rec, "ORG", (", ", " và ", " hoặc "), 3) for rec in sample)
    assert any(has_run(rec, "QUANTITY", (" * ", " x ", "x", " × ", " X "), 2) for rec in sample)
    assert any(has_run(rec, "SYMPTOM", (", ", " và "), 3) for rec in sample)


def test_strip_diacritics_is_one_for_one():
    letters = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
    for text in (letters, letters.upper()):
        assert len(sg.strip_diacritics(text)) == len(text)
        assert sg.strip_diacritics(text).isascii()
    assert sg.strip_diacritics("Đặng Thị Ánh, Quận 1") == "Dang Thi Anh, Quan 1"


# --------------------------------------------------------------------------- values the rules must accept

def test_phone_numbers_validate_with_phonenumbers(sample):
    phones = surfaces(sample, "PHONE")
    assert len(phones) > 100
    for rec, phone in phones:
        number = phonenumbers.parse(phone, "VN")
        assert phonenumbers.is_valid_number(number), (rec["id"], phone)
        assert number.country_code == 84


@pytest.mark.parametrize("slot", ["phone", "mobile", "landline"])
def test_many_generated_phone_numbers_validate(slot):
    # Far more draws than a sample holds, so that every prefix and area code is exercised.
    ctx = sg._Ctx(random.Random(slot), sg._lexicon())
    for _ in range(15_000):
        segs = []
        sg.SLOTS[slot](ctx, segs)
        (phone, label), = segs
        assert label == "PHONE" and phonenumbers.is_valid_number(phonenumbers.parse(phone, "VN")), phone


def test_id_numbers_are_valid_cccd_or_cmnd():
    records = list(sg.generate_records(3000, seed=5, domains=["customer_service", "hr"]))
    ids = surfaces(records, "ID_NUMBER")
    assert len(ids) > 30
    cued = 0
    for rec, value in ids:
        assert value.isdigit() and len(value) in (9, 12), value
        span_start = next(g["start"] for g in rec["gold"] if rec["text"][g["start"]:g["end"]] == value)
        cued += any(cue in rec["text"][max(0, span_start - 25):span_start].lower() for cue in ID_CUES)
        if len(value) == 9:
            continue
        assert value[:3] in CCCD_PROVINCE_CODES, value
        century = int(value[3])
        assert century in (0, 1, 2, 3), value
        birth_year = (1900 if century < 2 else 2000) + int(value[4:6])
        age = dt.datetime.fromisoformat(rec["created_at"]).year - birth_year
        assert 14 <= age <= 90, (value, age)
    assert 0.6 * len(ids) < cued < len(ids)  # most carry a cue word, not all


def test_order_codes_match_the_grammar(sample):
    codes = surfaces(sample, "ORDER_CODE")
    assert len(codes) > 50
    for _, code in codes:
        assert ORDER_CODE_DASHED.fullmatch(code) or ORDER_CODE_PLAIN.fullmatch(code), code
    assert any("-" in code for _, code in codes) and any("-" not in code for _, code in codes)


def test_licence_plates_use_real_province_codes(sample):
    plates = surfaces(sample, "LICENSE_PLATE")
    assert len(plates) > 20
    for _, plate in plates:
        m = PLATE.fullmatch(plate)
        assert m and int(m.group(1)) in PLATE_CODES, plate


@pytest.mark.parametrize("label,pattern", [
    ("EMAIL", r"[a-z0-9.]+@[a-z0-9.-]+\.[a-z]{2,}"),
    ("URL", r"(https?://|www\.|fb\.com/)\S+"),
    ("MONEY", r".*\d.*"),
    ("QUANTITY", r".*\d.*|(?:size|Size|sz|cỡ|co) [A-Z0-9]+|Free size"),
    ("CHEST", r"\d{2,3}(?: ?cm)?"),
    ("WAIST", r"\d{2,3}(?: ?cm)?"),
    ("HIP", r"\d{2,3}(?: ?cm)?"),
])
def test_value_shapes(sample, label, pattern):
    values = surfaces(sample, label)
    assert values
    for _, value in values:
        assert re.fullmatch(pattern, value), (label, value)


def test_body_measurements_follow_their_cue(sample):
    # compared without diacritics, as some records have none
    cues = {"CHEST": ("nguc", "vong 1", "v1", "chest", "bust", "so do", "3 vong"),
            "WAIST": ("eo", "vong 2", "v2", "waist"), "HIP": ("mong", "vong 3", "v3", "hip")}
    for rec in sample:
        gold = rec["gold"]
        for i, g in enumerate(gold):
            if g["label"] not in cues:
                continue
            before = sg.strip_diacritics(rec["text"][max(0, g["start"] - 20):g["start"]].lower())
            in_triple = any(x["label"] in cues for x in gold[max(0, i - 2):i])
            assert in_triple or any(c in before for c in cues[g["label"]]), (rec["text"], g)


# --------------------------------------------------------------------------- defects

def test_defects_appear_at_the_configured_rate():
    records = list(sg.generate_records(10_000, seed=9, defect_rate=0.05))
    kinds = Counter(defect_kind(rec, i) for i, rec in enumerate(records))
    defects = sum(count for kind, count in kinds.items() if kind)
    assert 400 < defects < 600  # expected 500, binomial sd about 22
    assert set(kinds) - {None} == set(sg.DEFECT_KINDS)
    ids = Counter(rec["id"] for rec in records)
    assert sum(count - 1 for count in ids.values()) == kinds["duplicate_id"]
    for i, rec in enumerate(records):
        if defect_kind(rec, i):
            assert rec["gold"] == []
            assert sg.is_defect(rec, i)


def test_defect_rate_zero_and_default():
    assert not any(defect_kind(rec, i) for i, rec in enumerate(sg.generate_records(2000, seed=1, defect_rate=0)))
    records = list(sg.generate_records(5000, seed=2))
    assert 1 <= sum(defect_kind(rec, i) is not None for i, rec in enumerate(records)) <= 25  # 0.002 -> ~10


# --------------------------------------------------------------------------- arguments and templates

@pytest.mark.parametrize("kwargs", [
    {"n": -1}, {"n": 3, "seed": -1}, {"n": 3, "start": -5}, {"n": 3, "defect_rate": 1.5},
    {"n": 3, "domains": ["sports"]}, {"n": 3, "domains": []}, {"n": 3, "base_date": "2024-03-12"},
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        sg.generate_records(**kwargs)


def test_domain_filter():
    records = list(sg.generate_records(200, seed=1, domains=["news", "health"], defect_rate=0))
    assert {rec["domain"] for rec in records} == {"news", "health"}


@pytest.mark.parametrize("template,message", [
    ("Chào {no_such_slot}", "unknown slot"),
    ("Giao lúc 8 giờ cho {per}", "digits"),
    ("Chào [anh|chị {per}", "unbalanced"),
])
def test_template_errors_are_clear(template, message):
    with pytest.raises(ValueError, match=message):
        sg._compile_template(template, "test")


def test_empty_alternative_leaves_no_stray_space():
    template = sg._compile_template("Gọi {phone} [nhé|].", "test")
    for seed in range(30):
        ctx = sg._Ctx(random.Random(seed), sg._lexicon())
        segs = []
        sg._fill(template, ctx, segs)
        assert " ." not in "".join(text for text, _ in segs)


# --------------------------------------------------------------------------- writing

def test_write_sample_parquet_streams_in_chunks(tmp_path):
    path = tmp_path / "sample.parquet"
    seen = []
    summary = sg.write_sample(path, 120_000, seed=1, chunk_size=50_000, progress=seen.append)
    assert seen == [50_000, 100_000, 120_000]
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 120_000 and summary["records"] == 120_000
    assert meta.num_row_groups == 3  # one per chunk: nothing held beyond a chunk
    table = pq.read_table(path)
    assert table.schema.equals(sg.sample_schema())
    flat = pc.struct_field(pc.list_flatten(table.column("gold")), "label")
    labels = {row["values"]: row["counts"] for row in pc.value_counts(flat).to_pylist()}
    assert summary["entities"] == len(flat) and summary["by_label"] == dict(sorted(labels.items()))
    head = table.slice(0, 200).to_pylist()
    assert head == list(sg.generate_records(200, seed=1))


def test_write_sample_jsonl_round_trips(tmp_path):
    path = tmp_path / "out" / "sample.jsonl"
    summary = sg.write_sample(path, 3000, seed=4, fmt="jsonl", chunk_size=700, start=500, defect_rate=0.01)
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    assert records == list(sg.generate_records(3000, seed=4, start=500, defect_rate=0.01))
    assert summary["defects"] == sum(sg.is_defect(rec, 500 + i) for i, rec in enumerate(records)) > 0


def test_write_sample_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        sg.write_sample(tmp_path / "x.csv", 10, fmt="csv")


def test_this_weekday_takes_nay_into_its_span():
    """"thứ Hai này" is one TIME/DATE span with "này", as in "tuần này" (the rules' convention)."""
    seen = 0
    for record in sg.generate_records(4000, seed=3, defect_rate=0.0):
        for gold in record["gold"]:
            surface = record["text"][gold["start"]:gold["end"]]
            after = record["text"][gold["end"]:gold["end"] + 4]
            if gold["label"] in ("DATE", "TIME") and re.search(r"(?i)(thứ \S+|chủ nhật|cn)$", surface):
                assert not re.match(r" (này|nay)\b", after), (surface, record["text"])
            seen += surface.endswith(" này") and gold["label"] == "TIME"
    assert seen > 0
