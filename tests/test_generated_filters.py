"""Filters for LLM-generated annotations (udfs/generated_filters.py), each on hand-made defects,
and the whole path passages -> local LLM server -> responses -> filters -> outputs."""
from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from llm_server import start_llm_server
from nerlake.udfs.config import ConfigError, from_dict
from nerlake.udfs.examples import spans_from_bio
from nerlake.udfs.generated_filters import (FilterConfig, PassageIndex, filter_responses, load_type_synonyms,
                                            normalize_type, parse_annotations, type_problem, type_summary)
from nerlake.udfs.llm_annotate import AnnotationConfig, annotate_passages

DATA = Path(__file__).parent / "data" / "llm"
VI = FilterConfig()


def response(text: str, content, passage_id: str = "p1", error: str | None = None, chunk_index: int = 0) -> dict:
    return {"passage_id": passage_id, "passage_hash": f"h-{passage_id}", "chunk_index": chunk_index,
            "chunk_text": text, "response_text": content, "error": error}


def items(*pairs) -> str:
    return json.dumps([{"entity": e, "type": t} for e, t in pairs], ensure_ascii=False)


def samples_of(out) -> dict[tuple[str, str], list[str]]:
    return {(s.passage_id, s.type): s.mentions for s in out.samples}


def dropped(out) -> int:
    return sum(n for key, n in out.stats.items() if key.startswith("annotations_dropped."))


# --------------------------------------------------------------------------- parsing

LIST = [{"entity": "Hà Nội", "type": "địa điểm"}, {"entity": "FPT", "type": "công ty"}]
EXPECTED = [("Hà Nội", "địa điểm"), ("FPT", "công ty")]


@pytest.mark.parametrize("content", [
    json.dumps(LIST, ensure_ascii=False),
    "```json\n" + json.dumps(LIST, ensure_ascii=False) + "\n```",
    "```\n" + json.dumps(LIST, ensure_ascii=False) + "```",
    "Các thực thể là:\n" + json.dumps(LIST, ensure_ascii=False) + "\nVậy thôi.",
    "Kết quả [đã kiểm tra]: " + json.dumps(LIST, ensure_ascii=False),
    json.dumps({"entities": LIST}, ensure_ascii=False),
])
def test_parse_finds_the_list(content):
    parsed = parse_annotations(content)
    assert (parsed.annotations, parsed.reason) == (EXPECTED, None)


@pytest.mark.parametrize("content, reason", [
    ('[{"entity": "Hà Nội", "type": "địa điểm"', "malformed_json"),
    ("[{'entity': 'Hà Nội', 'type': 'địa điểm'}]", "malformed_json"),
    ("Không có thực thể nào.", "malformed_json"),
    ("```json\n[{\"entity\": \"Huế\",]\n```", "malformed_json"),
    ("", "malformed_json"),
    (None, "malformed_json"),
    ('{"entity": "Hà Nội", "type": "địa điểm"}', "not_a_list"),
    ('"Hà Nội"', "not_a_list"),
    ("42", "not_a_list"),
])
def test_parse_rejects_answers_without_a_list(content, reason):
    parsed = parse_annotations(content)
    assert parsed.reason == reason and parsed.annotations == []


@pytest.mark.parametrize("bad_item", [
    {"entity": "Huế"}, {"type": "địa điểm"}, {"name": "Huế", "type": "địa điểm"}, {"entity": 7, "type": "số"},
    {"entity": "  ", "type": "địa điểm"}, {"entity": "Huế", "type": ""}, "Huế", ["Huế", "địa điểm"],
])
def test_parse_drops_items_with_missing_fields(bad_item):
    parsed = parse_annotations(json.dumps([bad_item, LIST[0]], ensure_ascii=False))
    assert parsed.reason == "missing_fields" and parsed.bad_items == 1
    assert parsed.annotations == [("Hà Nội", "địa điểm")]


def test_empty_list_is_a_valid_answer():
    assert (parse_annotations("[]").annotations, parse_annotations("[]").reason) == ([], None)


# --------------------------------------------------------------------------- type names

@pytest.mark.parametrize("raw, expected", [
    ("entity_type: person", "person"),
    ("type=organization", "organization"),
    ("Label: Location", "location"),
    ("ENTITY_TYPE = Tổ_Chức", "organization"),
    ("product_name", "product name"),
    ("productName", "product name"),
    ("HTTPServer", "http server"),
    ("  \"Người\". ", "person"),
    ("[Địa điểm]", "location"),
    ("Organisation", "organization"),
    ("tổ chức", "organization"),
    ("TỔ CHỨC", "organization"),
    ("PER", "person"),
    ("Sân   vận động", "sân vận động"),
    ("loại hoà giải", "loại hòa giải"),  # old-style tone mark moved
    ("ngân hàng", "ngân hàng"),  # not a synonym: stays itself
    ("!!!", ""),
])
def test_normalize_type(raw, expected):
    assert normalize_type(raw) == expected


def test_synonyms_can_come_from_another_file(tmp_path):
    path = tmp_path / "syn.yaml"
    path.write_text("bank: [ngân hàng, Ngân_Hàng]\n", encoding="utf-8")
    synonyms = load_type_synonyms(str(path))
    assert normalize_type("NGÂN HÀNG", synonyms) == "bank" and normalize_type("tổ chức", synonyms) == "tổ chức"


@pytest.mark.parametrize("content", ["a: [x]\nb: [X]\n", "a: x\n", "[1, 2]\n"])
def test_bad_synonym_files_are_config_errors(tmp_path, content):
    path = tmp_path / "syn.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="type_synonyms"):
        load_type_synonyms(str(path))


@pytest.mark.parametrize("type_name, problem", [
    ("person", None),
    ("sân vận động", None),
    ("đơn vị hành chính", None),
    ("人名", "type_foreign_script"),
    ("tổ chức 公司", "type_foreign_script"),
    ("организация", "type_foreign_script"),
    ("บุคคล", "type_foreign_script"),
    ("façade", "type_foreign_script"),
    ("tên của một tổ chức lớn", "type_too_long"),
    ("a" * 41, "type_too_long"),
    ("năm1", "type_has_digit"),
    ("covid-19", "type_has_digit"),
    ("a/b/c/&&", "type_mostly_punctuation"),
    ("", "type_empty"),
])
def test_type_problems_in_a_vietnamese_set(type_name, problem):
    assert type_problem(type_name, VI) == problem


@pytest.mark.parametrize("lang, type_name, problem", [
    ("th", "บุคคล", None),
    ("th", "person", None),  # plain ASCII English is allowed in every set
    ("th", "tổ chức", "type_foreign_script"),
    ("zh", "人名", None),
    ("en", "организация", "type_foreign_script"),
])
def test_script_rule_follows_the_target_language(lang, type_name, problem):
    assert type_problem(type_name, FilterConfig(target_language=lang)) == problem


def test_unknown_target_language_is_a_config_error():
    with pytest.raises(ConfigError, match="target_language"):
        from_dict(FilterConfig, {"target_language": "xx"})


def test_each_type_defect_is_dropped_and_counted():
    text = "Chị Trần Thị Bình làm ở Bệnh viện Bạch Mai."
    out = filter_responses([response(text, items(
        ("Trần Thị Bình", "entity_type: person"), ("Bệnh viện Bạch Mai", "type=organization"),
        ("Bạch Mai", "hospitalName"), ("Bạch Mai", "医院"), ("Bạch Mai", "больница"),
        ("Bạch Mai", "bệnh viện số 1"), ("Bạch Mai", "tên của một bệnh viện lớn"), ("Bạch Mai", "#"),
    ))])
    assert samples_of(out) == {("p1", "person"): ["Trần Thị Bình"], ("p1", "organization"): ["Bệnh viện Bạch Mai"],
                               ("p1", "hospital name"): ["Bạch Mai"]}
    assert {k: v for k, v in out.stats.items() if k.startswith("annotations_dropped.")} == {
        "annotations_dropped.type_foreign_script": 2, "annotations_dropped.type_has_digit": 1,
        "annotations_dropped.type_too_long": 1, "annotations_dropped.type_empty": 1}


# --------------------------------------------------------------------------- hallucinations

TEXT = "Đội tuyển Việt Nam thắng Thái Lan tại sân Mỹ Đình, còn ha noi thì mưa."


@pytest.mark.parametrize("entity, fold_match, found", [
    ("Việt Nam", False, "Việt Nam"),
    ("sân  Mỹ Đình", False, "sân Mỹ Đình"),  # runs of whitespace are not a difference
    ("Đà Nẵng", False, None),
    ("Nam thắng", False, "Nam thắng"),
    ("Việt", False, "Việt"),
    ("Na", False, None),  # inside a word: not a mention
    ("viet nam", False, None),
    ("viet nam", True, "Việt Nam"),
    ("Hà Nội", False, None),
    ("Hà Nội", True, "ha noi"),
    ("Đà Nẵng", True, None),
])
def test_locate_entities(entity, fold_match, found):
    first, _ = PassageIndex(TEXT).locate(entity, fold_match)
    assert (TEXT[first[0]:first[1]] if first else None) == found


def test_offsets_index_a_decomposed_passage():
    text = unicodedata.normalize("NFD", "Ông Nguyễn Văn An ở Hà Nội.")
    index = PassageIndex(text)
    (start, end), = index.occurrences("Hà Nội")  # the entity is NFC, the passage is not
    assert unicodedata.normalize("NFC", text[start:end]) == "Hà Nội"


def test_hallucinated_entities_are_dropped():
    out = filter_responses([response(TEXT, items(("Việt Nam", "quốc gia"), ("Đà Nẵng", "thành phố"),
                                                 ("Park Hang-seo", "huấn luyện viên"), ("Hà Nội", "thành phố")))])
    assert samples_of(out) == {("p1", "country"): ["Việt Nam"]}
    assert out.stats["annotations_dropped.hallucinated"] == 3


def test_fold_match_recovers_and_keeps_the_passage_text():
    out = filter_responses([response(TEXT, items(("Hà Nội", "thành phố"), ("VIỆT NAM", "quốc gia")))],
                           FilterConfig(fold_match=True))
    assert samples_of(out) == {("p1", "city"): ["ha noi"], ("p1", "country"): ["Việt Nam"]}
    assert out.stats["annotations_matched_folded"] == 2


def test_entities_without_a_word_are_dropped():
    out = filter_responses([response("Giá: 5 - 7 triệu.", items(("-", "dấu"), ("5 - 7 triệu", "số tiền")))])
    assert samples_of(out) == {("p1", "money"): ["5 - 7 triệu"]}
    assert out.stats["annotations_dropped.entity_without_word"] == 1


# --------------------------------------------------------------------------- length and duplicates

def test_over_long_input_and_label_are_dropped():
    short, long_ = "An gặp Bình và Chi.", "An gặp Bình. " * 10
    out = filter_responses([
        response(short, items(("An", "người"), ("Bình", "người"), ("Chi", "người"), ("An", "tên"))),
        response(long_, items(("An", "người")), passage_id="p2"),
    ], FilterConfig(max_tokens=8))
    # the label ["An", "Bình", "Chi"] is 13 simple tokens; ["An"] is 5
    assert samples_of(out) == {("p1", "tên"): ["An"]}
    assert out.stats["samples_dropped.label_too_long"] == 1 and out.stats["samples_dropped.input_too_long"] == 1
    assert [e.example_id for e in out.examples] == ["p1#0"]  # the BIO view keeps long labels
    assert out.examples[0].spans[0] == {"start": 0, "end": 2, "label": "person"}


def test_length_uses_the_given_tokenizer():
    text = "Ông An ở Hà Nội."
    answer = items(("Hà Nội", "địa điểm"))
    assert len(filter_responses([response(text, answer)], FilterConfig(max_tokens=15)).samples) == 1
    by_chars = filter_responses([response(text, answer)], FilterConfig(max_tokens=15), tokenize=list)
    assert by_chars.samples == [] and by_chars.stats["samples_dropped.input_too_long"] == 1


def test_duplicates_are_dropped():
    text = "Ông An ở Hà Nội và Huế."
    out = filter_responses([
        response(text, items(("Hà Nội", "địa điểm"), ("Huế", "location")), passage_id="a"),
        response(text, items(("Huế", "Địa điểm"), ("Hà Nội", "địa_điểm"), ("An", "người")), passage_id="b"),
        response(text, items(("Hà Nội", "địa điểm")), passage_id="c"),  # another mention set
        response("Ông An ở Huế.", items(("Huế", "địa điểm")), passage_id="d"),  # another passage
    ])
    assert samples_of(out) == {("a", "location"): ["Hà Nội", "Huế"], ("b", "person"): ["An"],
                               ("c", "location"): ["Hà Nội"], ("d", "location"): ["Huế"]}
    assert out.stats["samples_dropped.duplicate"] == 1
    assert [e.example_id for e in out.examples] == ["a#0", "d#0"]
    assert out.stats["bio_dropped.duplicate_passage"] == 2


def test_seen_carries_deduplication_across_calls():
    record = response("Ông An ở Huế.", items(("Huế", "địa điểm")))
    seen: set = set()
    assert len(filter_responses([record], seen=seen).samples) == 1
    again = filter_responses([record], seen=seen)
    assert again.samples == [] and again.examples == [] and again.stats["samples_dropped.duplicate"] == 1


# --------------------------------------------------------------------------- BIO output

def test_bio_labels_every_occurrence_longest_first():
    text = "Bệnh viện Bạch Mai ở Hà Nội. Bạch Mai đông. Hà Nội mưa, Hà Nội-Huế."
    out = filter_responses([response(text, items(
        ("Bạch Mai", "bệnh viện"), ("Bệnh viện Bạch Mai", "tổ chức"), ("Hà Nội", "thành phố"), ("Hà Nội", "tỉnh")))])
    example, = out.examples
    spans = [(text[s["start"]:s["end"]], s["label"], s["start"]) for s in example.spans]
    assert spans == [("Bệnh viện Bạch Mai", "organization", 0), ("Hà Nội", "city", 21), ("Bạch Mai", "bệnh viện", 29),
                     ("Hà Nội", "city", 44)]
    # "Hà Nội-Huế" is one token: the occurrence inside it cannot be labelled on its own
    assert out.stats["bio_occurrences_unaligned"] == 2
    assert spans_from_bio(example.labels, example.offsets) == example.spans
    assert example.labels[:5] == ["B-organization", "I-organization", "I-organization", "I-organization", "O"]
    assert (example.dataset, example.lang, example.text) == ("llm_generated", "vi", text)


def test_bio_with_a_label_map():
    text = "Ông An làm ở FPT tại Đà Nẵng."
    out = filter_responses([response(text, items(("An", "người"), ("FPT", "công ty"), ("Đà Nẵng", "thành phố")))],
                           label_map={"person": "PER", "city": "LOC"})
    assert [(text[s["start"]:s["end"]], s["label"]) for s in out.examples[0].spans] == [("An", "PER"), ("Đà Nẵng", "LOC")]
    assert out.stats["bio_mentions_unmapped"] == 1
    assert len(out.samples) == 3  # the one-type samples keep every type


def test_an_empty_answer_gives_an_all_o_example():
    out = filter_responses([response("Xin chào bạn.", "[]")])
    assert out.samples == [] and out.examples[0].labels == ["O", "O", "O", "O"]


# --------------------------------------------------------------------------- records and stats

def test_bad_records_are_quarantined_not_raised():
    records = [
        response("Hà Nội.", None, error="HTTP 400: bad request"),
        {"passage_id": "x"},  # lacks every other field
        response("   ", "[]", passage_id="blank"),
        response("Huế.", items(("Huế", "địa điểm")), passage_id="ok"),
    ]
    out = filter_responses(records)
    assert [q["reason"] for q in out.quarantine] == ["llm_error", "invalid_record", "invalid_record"]
    assert out.quarantine[0]["detail"] == "HTTP 400: bad request"
    assert samples_of(out) == {("ok", "location"): ["Huế"]}


def test_every_annotation_is_accounted_for():
    answer = items(("Việt Nam", "quốc gia"), ("Việt Nam", "quốc gia"), ("X", "人"), ("Thái Lan", "nước 2"),
                   ("Lào", "quốc gia"))
    out = filter_responses([response(TEXT, answer[:-1] + ', {"x": 1}]')])
    assert out.stats["annotations_in"] == 6
    assert out.stats["annotations_kept"] + dropped(out) == out.stats["annotations_in"]


def test_type_summary():
    counts = {"person": 100, "location": 50, **{f"type {i}": 1 for i in range(198)}}
    assert type_summary(counts) == {"n_types": 200, "n_samples": 348, "top1pct_types": 2,
                                    "top1pct_share": 150 / 348, "types_seen_once": 198}
    assert type_summary({}) == {"n_types": 0, "n_samples": 0, "top1pct_types": 0, "top1pct_share": 0.0,
                                "types_seen_once": 0}


# --------------------------------------------------------------------------- end to end

def test_end_to_end_passages_to_training_data():
    canned = json.loads((DATA / "canned.json").read_text(encoding="utf-8"))
    passages = [(p["passage_id"], p["text"]) for p in map(json.loads, (DATA / "passages.jsonl").open(encoding="utf-8"))]
    base_url, server = start_llm_server(canned)
    try:
        responses, stats = [], Counter()
        for model in ("model-a", "model-b"):  # the table holds both runs: the second duplicates the first
            cfg = AnnotationConfig(base_url=base_url, model=model, max_retries=3, backoff_base_s=0.001,
                                   backoff_max_s=0.01, timeout_s=5.0)
            responses += annotate_passages(passages, cfg, stats=stats)
        calls = server.calls
    finally:
        server.stop()
    assert len(responses) == 22 and stats["responses_failed"] == 2
    assert calls["Bà Phạm Thị Hoa"] == 4 and calls["bị máy chủ từ chối"] == 2  # 2 x 429 retried; 400 not retried

    out = filter_responses(sorted(responses, key=lambda r: (r.model, r.passage_id)), FilterConfig(max_tokens=64))

    assert samples_of(out) == {
        ("p01-clean", "person"): ["Nguyễn Văn An", "Ông An"],
        ("p01-clean", "organization"): ["Công ty Cổ phần Sữa Việt Nam"],
        ("p01-clean", "location"): ["Hà Nội"],
        ("p01-clean", "date"): ["12/3/2024"],
        ("p01-clean", "ngân hàng"): ["Vietcombank"],
        ("p02-types", "person"): ["Trần Thị Bình"],
        ("p02-types", "organization"): ["Bệnh viện Bạch Mai"],
        ("p02-types", "hospital name"): ["Bạch Mai"],
        ("p02-types", "product name"): ["sữa Ông Thọ"],
        ("p02-types", "siêu thị"): ["Co.opmart"],
        ("p03-hallucinated", "country"): ["Việt Nam", "Thái Lan"],
        ("p03-hallucinated", "sân vận động"): ["sân Mỹ Đình"],
        ("p06-missing", "city"): ["Đà Nẵng"],
        ("p08-rate-limited", "person"): ["Phạm Thị Hoa"],
        ("p08-rate-limited", "location"): ["Hội An"],
    }
    assert all(m in s.passage for s in out.samples for m in s.mentions)
    assert Counter(q["reason"] for q in out.quarantine) == {
        "malformed_json": 4, "not_a_list": 2, "missing_fields": 2, "llm_error": 2}
    st = out.stats
    assert (st["responses_in"], st["samples_out"], st["bio_examples_out"]) == (22, 15, 6)
    assert st["annotations_dropped.type_foreign_script"] == 4 and st["annotations_dropped.type_has_digit"] == 2
    assert st["annotations_dropped.type_too_long"] == 2 and st["annotations_dropped.type_empty"] == 2
    assert st["annotations_dropped.hallucinated"] == 4 and st["annotations_dropped.missing_fields"] == 4
    assert st["samples_dropped.input_too_long"] == 6 and st["samples_dropped.label_too_long"] == 2
    assert st["samples_dropped.duplicate"] == 15 and st["bio_dropped.duplicate_passage"] == 6
    assert st["annotations_kept"] + dropped(out) == st["annotations_in"]

    examples = {e.example_id: e for e in out.examples}
    assert set(examples) == {"p01-clean#0", "p02-types#0", "p03-hallucinated#0", "p06-missing#0",
                             "p08-rate-limited#0", "p11-many#0"}
    p02 = examples["p02-types#0"]
    assert [(p02.text[s["start"]:s["end"]], s["label"]) for s in p02.spans] == [
        ("Trần Thị Bình", "person"), ("Bệnh viện Bạch Mai", "organization"), ("sữa Ông Thọ", "product name"),
        ("Co.opmart", "siêu thị")]
    assert len(examples["p11-many#0"].spans) == 20  # the label was too long for a sample, not for BIO
    assert [(s["label"]) for s in examples["p01-clean#0"].spans].count("location") == 2  # Hà Nội twice

    summary = out.type_summary()
    assert summary["n_types"] == 11 and summary["n_samples"] == 15 and summary["types_seen_once"] == 8
    assert summary["top1pct_types"] == 1 and summary["top1pct_share"] == 3 / 15
