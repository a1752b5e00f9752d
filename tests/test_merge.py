"""The hybrid merge (udfs/merge.py): config, step registry, each step, the default pipeline."""
from __future__ import annotations

import random
import unicodedata
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerlake.udfs.config import ConfigError, from_dict, to_dict
from nerlake.udfs.labels import LABELS
from nerlake.udfs.merge import MERGE_STEPS, MergeConfig, merge_spans, merge_step
from nerlake.udfs.spans import Span

DEFAULT = MergeConfig()


def span(text: str, sub: str, label: str, source: str = "model", score: float = 0.9, nth: int = 0, **kw) -> Span:
    """The ``nth`` occurrence of ``sub`` in ``text`` as a span."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(sub, start + 1)
    return Span(start, start + len(sub), label, score, source, **kw)


def rule(text: str, sub: str, label: str, **kw) -> Span:
    return span(text, sub, label, source="rule", score=1.0, rule=kw.pop("rule", "test_rule"), **kw)


def shown(text: str, spans) -> list[tuple[str, str, str]]:
    return [(text[s.start:s.end], s.label, s.source) for s in spans]


def only(step: str, **options) -> MergeConfig:
    return from_dict(MergeConfig, {"steps": [step], **options})


# ---------------------------------------------------------------- config and registry

def test_defaults():
    cfg = from_dict(MergeConfig, {})
    assert cfg == DEFAULT
    assert cfg.steps == ["repair_token_boundaries", "extend_names", "extend_addresses", "split_lists",
                         "rule_owned_labels", "resolve_overlaps", "restore_fine_labels"]
    assert set(cfg.steps) <= set(MERGE_STEPS)
    assert from_dict(MergeConfig, to_dict(cfg)) == cfg  # the job ships it as a dict


@pytest.mark.parametrize("data, message", [
    ({"steps": ["repair_token_boundaries", "fix_everything"]}, r"unknown merge step 'fix_everything'; registered steps: .*extend_names"),
    ({"rule_owned_policy": "keep"}, "rule_owned_policy: 'keep' is not allowed; choose one of drop, trim"),
    ({"label_priority": ["PER", "PERSON"]}, r"label_priority\[1\]|label_priority: 'PERSON' is not allowed"),
    ({"split_list_labels": ["ORGANISATION"]}, "'ORGANISATION' is not allowed"),
    ({"specialised_labels": {"QUANTITY": ["SIZE"]}}, "specialised_labels.QUANTITY: unknown label 'SIZE'"),
    ({"min_model_score": 1.5}, r"min_model_score: 1.5 is not allowed; must be in \[0, 1\]"),
    ({"fine_label_window": 0}, "fine_label_window: 0 is not allowed"),
    ({"step_options": {"split_lists": {"x": 1}}, "steps": ["resolve_overlaps"]}, "step_options.split_lists"),
    ({"repair_sources": ["gold"]}, "'gold' is not allowed"),
    ({"stepz": []}, "unknown key stepz"),
])
def test_bad_config(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(MergeConfig, data)


def test_bad_lexicon_path_is_reported_on_first_use(tmp_path):
    cfg = from_dict(MergeConfig, {"lexicon_path": str(tmp_path / "missing.yaml")})
    with pytest.raises(ConfigError, match="lexicon_path"):
        merge_spans("Hà Nội", [], [Span(0, 6, "LOC", 0.9, "model")], cfg)


@pytest.fixture
def shout_step():
    """A user step that upper-cases labels of its option's value, registered for one test."""

    @merge_step("shout")
    def shout(spans, ctx):
        return [ctx.changed(s, label=ctx.options["to"]) if s.label == ctx.options["from"] else s for s in spans]

    yield shout
    del MERGE_STEPS["shout"]


def test_user_step_runs_in_order_with_its_options(shout_step):
    text = "Gặp Lan ở Huế"
    cfg = from_dict(MergeConfig, {"steps": ["resolve_overlaps", "shout"],
                                  "step_options": {"shout": {"from": "LOC", "to": "ADDRESS"}}})
    out = merge_spans(text, [], [span(text, "Lan", "PER"), span(text, "Huế", "LOC")], cfg)
    assert shown(text, out) == [("Lan", "PER", "model"), ("Huế", "ADDRESS", "merged")]
    assert out[1].rule == "shout"
    with pytest.raises(ValueError, match="registered twice"):
        merge_step("shout")(lambda spans, ctx: spans)


# ---------------------------------------------------------------- repair_token_boundaries

@pytest.mark.parametrize("text, given, label, expected", [
    ("Chuyển khoản qua VietinBank nhé", "Vietin", "ORG", [("VietinBank", "ORG", "merged")]),
    ("Gặp anh Phạm Minh Chính.", "hạm Minh Chính.", "PER", [("Phạm Minh Chính", "PER", "merged")]),
    ("Hãng (Vietjet) bay", "(Vietjet)", "ORG", [("Vietjet", "ORG", "merged")]),
    ("Ở Hà Nội", "Hà Nội", "LOC", [("Hà Nội", "LOC", "model")]),  # nothing to repair
    ("Ờ , . ừ", " , . ", "PER", []),  # nothing left
])
def test_repair_token_boundaries(text, given, label, expected):
    out = merge_spans(text, [], [span(text, given, label)], only("repair_token_boundaries"))
    assert shown(text, out) == expected
    assert all(s.rule == "repair_token_boundaries" for s in out if s.source == "merged")


def test_repair_leaves_rule_spans_alone():
    text = "Mã (ABC123) đã giao"
    given = rule(text, "(ABC123)", "ORDER_CODE")
    assert merge_spans(text, [given], [], only("repair_token_boundaries")) == [given]


# ---------------------------------------------------------------- extend_names

@pytest.mark.parametrize("text, given, label, expected", [
    ("Phạm Minh Chính phát biểu", "Phạm", "PER", "Phạm Minh Chính"),
    ("Ông Phạm Minh Chính phát biểu", "Minh Chính", "PER", "Phạm Minh Chính"),
    ("Gặp Phạm Minh Chính hôm qua", "Phạm", "PER", "Phạm Minh Chính"),
    ("Hôm nay Lan đi học", "Lan", "PER", "Lan"),
    ("Công ty Hoa Sen Group báo lãi", "Hoa Sen", "ORG", "Hoa Sen Group"),
    ("Du lịch Phú Quốc. Hà Nội thì lạnh", "Phú", "LOC", "Phú Quốc"),
])
def test_extend_names(text, given, label, expected):
    out = merge_spans(text, [], [span(text, given, label)], only("extend_names"))
    assert shown(text, out) == [(expected, label, "model" if expected == given else "merged")]


def test_extend_names_does_not_enter_other_spans():
    text = "Vinamilk Hà Nội tuyển dụng"
    out = merge_spans(text, [], [span(text, "Vinamilk", "ORG"), span(text, "Hà Nội", "LOC")], only("extend_names"))
    assert shown(text, out) == [("Vinamilk", "ORG", "model"), ("Hà Nội", "LOC", "model")]


# ---------------------------------------------------------------- extend_addresses

@pytest.mark.parametrize("text, given, label, expected", [
    ("Hẹn ở tòa nhà Avalon, quận 1 lúc 9h", "tòa nhà Avalon", "LOC", "tòa nhà Avalon, quận 1"),
    ("Giao về 12 Lê Lợi, phường Bến Nghé, Q.1, TP. HCM giúp em", "12 Lê Lợi", "ADDRESS",
     "12 Lê Lợi, phường Bến Nghé, Q.1, TP. HCM"),
    ("Giao về 12 Lê Lợi, Hà Nội", "12 Lê Lợi", "ADDRESS", "12 Lê Lợi, Hà Nội"),
    ("Giao về 5 Trần Phú, tp Hồ Chí Minh", "5 Trần Phú", "ADDRESS", "5 Trần Phú, tp Hồ Chí Minh"),
    ("Chi nhánh Quận 1, Quận 3 và Quận 5", "Quận 1", "LOC", "Quận 1"),
    ("Bay Hà Nội, Đà Nẵng", "Hà Nội", "LOC", "Hà Nội"),
])
def test_extend_addresses(text, given, label, expected):
    out = merge_spans(text, [], [span(text, given, label)], only("extend_addresses"))
    assert shown(text, out) == [(expected, label, "model" if expected == given else "merged")]


def test_extend_addresses_only_configured_labels():
    text = "Gặp Công ty ABC, quận 1"
    given = span(text, "Công ty ABC", "ORG")
    assert merge_spans(text, [], [given], only("extend_addresses")) == [given]


# ---------------------------------------------------------------- split_lists

@pytest.mark.parametrize("text, given, label, expected", [
    ("Khách dùng Agribank, VietinBank, BIDV.", "Agribank, VietinBank, BIDV", "ORG", ["Agribank", "VietinBank", "BIDV"]),
    ("Bay Hà Nội và Đà Nẵng tuần sau", "Hà Nội và Đà Nẵng", "LOC", ["Hà Nội", "Đà Nẵng"]),
    ("Kích thước 2,16 m * 1,2 m nhé", "2,16 m * 1,2 m", "QUANTITY", ["2,16 m", "1,2 m"]),
    ("Kích thước 2,16 x 1,2 m nhé", "2,16 x 1,2 m", "QUANTITY", ["2,16", "1,2 m"]),
    ("Giá 1,2 triệu nhé", "1,2 triệu", "MONEY", ["1,2 triệu"]),
    ("Nhà 12 Lê Lợi, quận 1 đẹp", "12 Lê Lợi, quận 1", "ADDRESS", ["12 Lê Lợi, quận 1"]),
    ("Đến Bộ Văn hóa, Thể thao và Du lịch", "Bộ Văn hóa, Thể thao và Du lịch", "ORG",
     ["Bộ Văn hóa, Thể thao và Du lịch"]),
])
def test_split_lists(text, given, label, expected):
    out = merge_spans(text, [], [span(text, given, label, score=0.7)], only("split_lists"))
    assert [text[s.start:s.end] for s in out] == expected
    assert all(s.label == label and s.score == 0.7 for s in out)
    assert all(s.source == ("merged" if len(expected) > 1 else "model") for s in out)


def test_split_lists_only_configured_labels():
    text = "Khách dùng Agribank, BIDV"
    given = span(text, "Agribank, BIDV", "ORG")
    cfg = only("split_lists", split_list_labels=["LOC"])
    assert merge_spans(text, [], [given], cfg) == [given]


# ---------------------------------------------------------------- rule_owned_labels

def test_rule_owned_drops_overlapping_model_spans():
    text = "Gọi 0901234567 gặp chị Lan"
    phone = rule(text, "0901234567", "PHONE", normalized="+84901234567")
    model = [span(text, "Gọi 0901", "PER"), span(text, "Lan", "PER"), span(text, "234567", "PHONE")]
    out = merge_spans(text, [phone], model, only("rule_owned_labels"))
    assert shown(text, out) == [("0901234567", "PHONE", "rule"), ("Lan", "PER", "model")]
    assert out[0] is phone


def test_rule_owned_merges_exact_agreement():
    text = "Gọi 0901234567 nhé"
    phone = Span(4, 14, "PHONE", 0.8, "rule", normalized="+84901234567", rule="phone")
    out = merge_spans(text, [phone], [Span(4, 14, "PHONE", 0.95, "model")], only("rule_owned_labels"))
    assert out == [Span(4, 14, "PHONE", 0.95, "merged", normalized="+84901234567", rule="rule_owned_labels")]


@pytest.mark.parametrize("given, label, expected", [
    ("Shop Hoa Mai 0901234567", "ORG", [("Shop Hoa Mai", "ORG", "merged")]),
    ("0901234567 Nguyễn Văn An", "PER", [("Nguyễn Văn An", "PER", "merged")]),
    ("Mai0901234567", "ORG", []),  # what is left was glued to the number: not a word
    ("0901234567 09", "QUANTITY", []),  # an owned label is never trimmed
])
def test_rule_owned_trim_policy(given, label, expected):
    text = f"Liên hệ {given} nhé"
    phone = rule(text, "0901234567", "PHONE")
    out = merge_spans(text, [phone], [span(text, given, label)], only("rule_owned_labels", rule_owned_policy="trim"))
    assert shown(text, [s for s in out if s is not phone]) == expected


def test_rule_owned_specialised_label_takes_the_rule_offsets():
    text = "vòng eo 64 cm nhé"
    quantity = rule(text, "64 cm", "QUANTITY", normalized="64 cm")
    out = merge_spans(text, [quantity], [span(text, "64", "BODY_MEASUREMENT", score=0.6)], only("rule_owned_labels"))
    assert out == [Span(8, 13, "BODY_MEASUREMENT", 1.0, "merged", normalized="64 cm", rule="rule_owned_labels")]


def test_rule_owned_keeps_model_spans_the_rules_missed_and_unowned_rule_spans():
    text = "Vietcombank Hà Nội gọi 0901234567"
    gazetteer = rule(text, "Vietcombank", "ORG")
    model = [span(text, "Hà Nội", "LOC"), span(text, "0901234567", "PHONE")]
    assert merge_spans(text, [gazetteer], model, only("rule_owned_labels")) == [gazetteer, *model]


# ---------------------------------------------------------------- resolve_overlaps

@pytest.mark.parametrize("specs, expected", [
    # same label: longest wins
    ([("Ngân hàng Vietcombank", "ORG", 0.5), ("Vietcombank", "ORG", 0.99)], [("Ngân hàng Vietcombank", "ORG")]),
    # different labels: priority (ORG before LOC) beats the score
    ([("Ngân hàng Vietcombank", "ORG", 0.5), ("Vietcombank", "LOC", 0.99)], [("Ngân hàng Vietcombank", "ORG")]),
    ([("Vietcombank", "ORG", 0.5), ("Ngân hàng Vietcombank", "LOC", 0.99)], [("Vietcombank", "ORG")]),
    # labels of equal rank (unlisted here): the score
    ([("Vietcombank", "PRODUCT", 0.5), ("Ngân hàng Vietcombank", "SYMPTOM", 0.7)], [("Ngân hàng Vietcombank", "SYMPTOM")]),
])
def test_resolve_overlaps(specs, expected):
    text = "Mở thẻ Ngân hàng Vietcombank nhé"
    cfg = only("resolve_overlaps", label_priority=["ORG", "LOC"])
    model = [span(text, sub, label, score=score) for sub, label, score in specs]
    for order in (model, model[::-1]):
        assert [(text[s.start:s.end], s.label) for s in merge_spans(text, [], order, cfg)] == expected


def test_resolve_combines_rule_and_model_evidence():
    text = "Mở thẻ Ngân hàng Vietcombank nhé"
    gazetteer = rule(text, "Vietcombank", "ORG")
    exact = merge_spans(text, [gazetteer], [span(text, "Vietcombank", "ORG", score=0.4)], only("resolve_overlaps"))
    assert shown(text, exact) == [("Vietcombank", "ORG", "merged")] and exact[0].score == 1.0
    wider = merge_spans(text, [gazetteer], [span(text, "Ngân hàng Vietcombank", "ORG", score=0.4)],
                        only("resolve_overlaps"))
    assert shown(text, wider) == [("Ngân hàng Vietcombank", "ORG", "merged")] and wider[0].score == 1.0
    two_models = merge_spans(text, [], [span(text, "Vietcombank", "ORG", score=s) for s in (0.4, 0.6)],
                             only("resolve_overlaps"))
    assert [(s.source, s.score) for s in two_models] == [("model", 0.6)]


# ---------------------------------------------------------------- restore_fine_labels

@pytest.mark.parametrize("text, measurements, expected", [
    ("Số đo: vòng ngực 86 cm, vòng eo 64 cm, vòng mông 90 cm", ["86 cm", "64 cm", "90 cm"], ["CHEST", "WAIST", "HIP"]),
    ("Vòng 1: 86, vòng 2: 64, vòng 3: 90", ["86", "64", "90"], ["CHEST", "WAIST", "HIP"]),
    ("ngực 86 cm, 64 cm, hông 90 cm", ["86 cm", "64 cm", "90 cm"], ["CHEST", "BODY_MEASUREMENT", "HIP"]),  # one keyword, one span
    ("Em cao 1m60 nặng 50 kg, 86 cm", ["86 cm"], ["BODY_MEASUREMENT"]),  # no keyword: the group stays
])
def test_restore_fine_labels(text, measurements, expected):
    model = [span(text, sub, "BODY_MEASUREMENT") for sub in measurements]
    out = merge_spans(text, [], model, only("restore_fine_labels"))
    assert [text[s.start:s.end] for s in out] == measurements
    assert [s.label for s in out] == expected
    assert all((s.source, s.rule) == ("merged", "restore_fine_labels") for s in out if s.label != "BODY_MEASUREMENT")


def test_restore_fine_labels_window_is_configurable():
    text = "vòng eo của bé nhà em hiện tại là 64 cm"
    model = [span(text, "64 cm", "BODY_MEASUREMENT")]
    assert merge_spans(text, [], model, only("restore_fine_labels"))[0].label == "WAIST"
    narrow = only("restore_fine_labels", fine_label_window=10)
    assert merge_spans(text, [], model, narrow)[0].label == "BODY_MEASUREMENT"


# ---------------------------------------------------------------- the default pipeline

RECORDS = [
    (  # truncated name and address, phone owned by the rules
        "Thủ tướng Phạm Minh Chính thăm tòa nhà Avalon, quận 1, TP. HCM. Liên hệ 0901234567.",
        [("0901234567", "PHONE")],
        [("Phạm", "PER", 0.9), ("tòa nhà Avalon", "LOC", 0.8), ("Liên hệ 0901", "PER", 0.4)],
        [("Phạm Minh Chính", "PER", "merged"), ("tòa nhà Avalon, quận 1, TP. HCM", "LOC", "merged"),
         ("0901234567", "PHONE", "rule")],
    ),
    (  # a listed ORG, a list of places, money agreed by rule and model
        "Chuyển 1,2 triệu qua Agribank, VietinBank, BIDV rồi bay Hà Nội và Đà Nẵng.",
        [("1,2 triệu", "MONEY"), ("Agribank", "ORG")],
        [("1,2 triệu", "MONEY", 0.7), ("Agribank, VietinBank, BIDV", "ORG", 0.9), ("Hà Nội và Đà Nẵng", "LOC", 0.9)],
        [("1,2 triệu", "MONEY", "merged"), ("Agribank", "ORG", "merged"), ("VietinBank", "ORG", "merged"),
         ("BIDV", "ORG", "merged"), ("Hà Nội", "LOC", "merged"), ("Đà Nẵng", "LOC", "merged")],
    ),
    (  # dimensions, body measurements over rule quantities
        "Tấm nệm 2,16 m * 1,2 m. Số đo: vòng ngực 86 cm, vòng eo 64 cm.",
        [("86 cm", "QUANTITY"), ("64 cm", "QUANTITY")],
        [("2,16 m * 1,2 m", "QUANTITY", 0.8), ("86", "BODY_MEASUREMENT", 0.9), ("64 cm", "BODY_MEASUREMENT", 0.9)],
        [("2,16 m", "QUANTITY", "merged"), ("1,2 m", "QUANTITY", "merged"), ("86 cm", "CHEST", "merged"),
         ("64 cm", "WAIST", "merged")],
    ),
    (  # full address from a sub-word model span
        "Giao đến 12 Lê Lợi, phường Bến Nghé, quận 1, tp Hồ Chí Minh trước 17h ngày 12/3.",
        [("17h ngày 12/3", "TIME"), ("12/3", "DATE")],
        [("2 Lê Lợi", "ADDRESS", 0.8), ("Bến Nghé", "LOC", 0.6)],
        [("12 Lê Lợi, phường Bến Nghé, quận 1, tp Hồ Chí Minh", "ADDRESS", "merged"),
         ("17h ngày 12/3", "TIME", "rule")],
    ),
]


@pytest.mark.parametrize("text, rules, model, expected", RECORDS)
def test_default_pipeline(text, rules, model, expected):
    rule_spans = [rule(text, sub, label) for sub, label in rules]
    model_spans = [span(text, sub, label, score=score) for sub, label, score in model]
    stats = Counter()
    out = merge_spans(text, rule_spans, model_spans, DEFAULT, stats)
    assert shown(text, out) == expected
    assert stats  # every record above needs at least one step


def test_decomposed_text_keeps_original_offsets():
    text = unicodedata.normalize("NFD", "Ông Phạm Minh Chính gọi 0901234567 tại Hà Nội")
    phone = rule(text, "0901234567", "PHONE")
    start = text.index("Ph")
    out = merge_spans(text, [phone], [Span(start, start + 3, "PER", 0.8, "model")], DEFAULT)
    assert shown(text, out) == [(unicodedata.normalize("NFD", "Phạm Minh Chính"), "PER", "merged"),
                                ("0901234567", "PHONE", "rule")]
    assert out[1] is phone


def test_min_model_score_and_stats():
    text = "Gặp Lan ở Huế"
    cfg = from_dict(MergeConfig, {"min_model_score": 0.5})
    stats = Counter()
    out = merge_spans(text, [], [span(text, "Lan", "PER", score=0.4), span(text, "Huế", "LOC", score=0.5)], cfg, stats)
    assert shown(text, out) == [("Huế", "LOC", "model")]
    assert stats["input.low_score"] == 1


def test_steps_can_be_left_out_and_the_output_contract_still_holds():
    text = "Agribank  và BIDV"
    cfg = from_dict(MergeConfig, {"steps": []})
    out = merge_spans(text, [], [Span(0, 10, "ORG", 0.5, "model"), Span(7, 17, "LOC", 0.9, "model")], cfg)
    assert shown(text, out) == [("Agribank", "ORG", "merged")]


@pytest.mark.parametrize("rules, model, error", [
    ([Span(0, 99, "PHONE")], [], "ends past the text"),
    ([], [("PER", 0, 3)], "must hold Span objects"),
])
def test_bad_input(rules, model, error):
    with pytest.raises((TypeError, ValueError), match=error):
        merge_spans("Gặp Lan", rules, model, DEFAULT)


def test_source_follows_the_list_a_span_came_in():
    text = "Gặp Lan"
    out = merge_spans(text, [], [Span(4, 7, "PER", 0.9)], DEFAULT)  # Span's default source is "rule"
    assert [s.source for s in out] == ["model"]


# ---------------------------------------------------------------- properties

_PIECES = ["Phạm", "Minh", "Chính", "Hà", "Nội", "và", "quận", "1", "Q.1", "TP.", "HCM", "Agribank", "BIDV", "2,16",
           "m", "*", "x", "1,2", "triệu", "vòng", "eo", "64", "cm", "Ông", "Công", "ty", "(", ")", ",", ".", "-", "“",
           "0901234567", "e\u0301", "\u0323", "İ", "ngực", "12", "Lê", "Lợi"]
_text = st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from([" ", " ", "", ", ", "\n", "  "])),
                 min_size=1, max_size=14).map(lambda parts: "".join(p + sep for p, sep in parts))


@st.composite
def _records(draw):
    text = draw(_text)
    n = len(text)

    def spans(source):
        out = []
        for _ in range(draw(st.integers(0, 6))):
            start = draw(st.integers(0, n - 1))
            end = draw(st.integers(start + 1, n))
            label = draw(st.sampled_from(list(LABELS)))
            out.append(Span(start, end, label, draw(st.floats(0, 1)), source))
        return out

    return text, spans("rule"), spans("model")


_CONFIGS = [DEFAULT, from_dict(MergeConfig, {"rule_owned_policy": "trim", "repair_sources": ["rule", "model", "merged"],
                                             "split_list_labels": list(LABELS), "min_model_score": 0.3})]


@settings(max_examples=300, deadline=None)
@given(record=_records(), which=st.integers(0, len(_CONFIGS) - 1), seed=st.integers(0, 1000))
def test_merge_properties(record, which, seed):
    text, rules, model = record
    cfg = _CONFIGS[which]
    out = merge_spans(text, rules, model, cfg)
    for s in out:
        assert 0 <= s.start < s.end <= len(text)
        assert not text[s.start].isspace() and not text[s.end - 1].isspace()
        assert s.label in LABELS and s.source in ("rule", "model", "merged")
        if s.source == "rule":
            assert s in rules  # untouched rule spans are the input spans
        if s.source == "model":
            assert s in model
    assert all(a.end <= b.start for a, b in zip(out, out[1:]))  # sorted, no overlaps
    shuffled_rules, shuffled_model = rules[:], model[:]
    random.Random(seed).shuffle(shuffled_rules)
    random.Random(seed).shuffle(shuffled_model)
    assert merge_spans(text, shuffled_rules, shuffled_model, cfg) == out  # deterministic, order-free
