import json
import unicodedata

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nerlake.udfs.labels import bio_labels
from nerlake.udfs.model_dir import ModelDir
from nerlake.udfs.modeling import (IGNORE_INDEX, PAD, PRESETS, build_bert, build_model_from_examples,
                                   check_examples, encode_examples, entity_labels_for, export_onnx, pack_features,
                                   save_checkpoint, train_model, train_tokenizer)
from nerlake.udfs.ner import token_offsets

from model_fixture import generated_records

TEXTS = [
    "Anh Nguyễn Văn Hùng ở Hà Nội, sđt 0901234567.",
    "Chị Trần Thị Thủy sống tại Đà Nẵng, gọi 0912345678 nhé.",
    "Khách hàng Lê Hoàng Nam hỏi về chi nhánh Cần Thơ.",
] * 5
BIO = bio_labels(["PER", "LOC", "PHONE"])


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, vocab_size=1000, min_frequency=1)


def span(text, surface, label, nth=0):
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return {"start": start, "end": start + len(surface), "label": label}


def tags_of(tokenizer, text, gold, **kw):
    features, stats = encode_examples(tokenizer, [(text, gold)], BIO, **{"max_length": 128, **kw})
    (ids, labels), = features
    tokens = [tokenizer.id_to_token(i) for i in ids]
    return tokens, [BIO[t] if t != IGNORE_INDEX else None for t in labels], stats


# ---------------------------------------------------------------------------- tokenizer

def test_tokenizer_keeps_diacritics_and_case(tokenizer):
    encoding = tokenizer.encode("Nguyễn Thủy", add_special_tokens=False)
    assert "".join(t.removeprefix("##") for t in encoding.tokens) == "NguyễnThủy"


def test_tokenizer_splits_punctuation_and_keeps_offsets(tokenizer):
    text = "Hà Nội,sđt:0901234567."
    encoding = tokenizer.encode(text, add_special_tokens=False)
    surfaces = [text[s:e] for s, e in encoding.offsets]
    assert "," in surfaces and ":" in surfaces and surfaces[-1] == "."
    assert "".join(surfaces) == text.replace(" ", "")


def test_tokenizer_reads_each_cjk_character_as_a_word_with_offsets():
    tokenizer = train_tokenizer(["我们在北京工作", "北京大学 ở Hà Nội"], vocab_size=300, min_frequency=1)
    text = "在北京大学 Hà Nội"
    encoding = tokenizer.encode(text, add_special_tokens=False)
    assert encoding.tokens[:5] == list("在北京大学")  # unsegmented text: one token per ideograph
    assert [text[s:e] for s, e in encoding.offsets[:5]] == list("在北京大学")


def test_tokenizer_adds_cls_and_sep(tokenizer):
    tokens = tokenizer.encode("Hà Nội").tokens
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"


def test_token_offsets_cover_nfd_input_completely(tokenizer):
    text = unicodedata.normalize("NFD", "Thủy ở Hà")
    encoding = tokenizer.encode(text, add_special_tokens=False)
    surfaces = [unicodedata.normalize("NFC", text[s:e]) for s, e in token_offsets(encoding, text)]
    assert "".join(t.removeprefix("##") for t in encoding.tokens) == "".join(surfaces) == "ThủyởHà"


def test_tokenizer_training_is_deterministic():
    # tokenizers' own trainer gives a different vocabulary on nearly every run here (#1794)
    vocabularies = {tuple(sorted(train_tokenizer(TEXTS, vocab_size=300, min_frequency=1).get_vocab().items()))
                    for _ in range(8)}
    assert len(vocabularies) == 1


def test_special_token_text_in_a_record_is_read_as_text(tokenizer):
    tokens = tokenizer.encode("a [SEP] b", add_special_tokens=False).tokens
    assert "[SEP]" not in tokens and "[" in tokens


# ---------------------------------------------------------------------------- encoding

def test_encoding_labels_first_token_b_and_the_rest_i(tokenizer):
    text = "Anh Nguyễn Văn Hùng ở Hà Nội, sđt 0377111222."  # a number the tokenizer never saw
    gold = [span(text, "Nguyễn Văn Hùng", "PER"), span(text, "Hà Nội", "LOC"), span(text, "0377111222", "PHONE")]
    tokens, tags, stats = tags_of(tokenizer, text, gold)
    assert tags[0] is None and tags[-1] is None  # [CLS], [SEP]
    pairs = list(zip(tokens[1:-1], tags[1:-1]))
    assert pairs[0] == ("Anh", "O")
    per = [tag for tok, tag in pairs if tag and tag.endswith("PER")]
    assert per[0] == "B-PER" and set(per[1:]) == {"I-PER"} and len(per) >= 3
    phone = [(tok, tag) for tok, tag in pairs if tag and tag.endswith("PHONE")]
    assert phone[0][1] == "B-PHONE" and all(tag == "I-PHONE" for _, tag in phone[1:])
    # continuation sub-tokens of the number carry I-, not -100 (the documented choice)
    assert any(tok.startswith("##") for tok, _ in phone[1:])
    assert dict(pairs)[","] == "O"
    assert stats.spans == 3 and stats.spans_misaligned == stats.spans_overlapping == 0


def test_adjacent_entities_of_the_same_type_get_two_b(tokenizer):
    text = "Hà Nội Đà Nẵng"
    _, tags, _ = tags_of(tokenizer, text, [span(text, "Hà Nội", "LOC"), span(text, "Đà Nẵng", "LOC")])
    assert [t for t in tags if t and t.startswith("B-")] == ["B-LOC", "B-LOC"]


@pytest.mark.parametrize("gold, counter, expected", [
    ([{"start": 0, "end": 3, "label": "DATE"}], "spans_unlearned", {"DATE": 1}),
    ([{"start": 4, "end": 10, "label": "PER"}, {"start": 4, "end": 14, "label": "PER"}], "spans_overlapping", 1),
    ([{"start": 5, "end": 10, "label": "PER"}], "spans_misaligned", 1),  # starts inside "Nguyễn"
    ([{"start": 4, "end": 12, "label": "PER"}], "spans_misaligned", 1),  # ends inside "Văn"
    ([{"start": 3, "end": 4, "label": "PER"}], "spans_without_tokens", 1),  # the space
])
def test_encoding_counts_what_it_could_not_use(tokenizer, gold, counter, expected):
    assert tokenizer.encode("Anh Nguyễn Văn Hùng", add_special_tokens=False).tokens == ["Anh", "Nguyễn", "Văn", "Hùng"]
    _, _, stats = tags_of(tokenizer, "Anh Nguyễn Văn Hùng", gold)
    got = getattr(stats, counter)
    assert (dict(got) if counter == "spans_unlearned" else got) == expected


def test_label_map_folds_fine_labels_into_groups():
    examples = [("x", [{"start": 0, "end": 1, "label": "WAIST"}]), ("y", [{"start": 0, "end": 1, "label": "PER"}])]
    assert entity_labels_for(examples) == ["PER", "BODY_MEASUREMENT"]
    assert entity_labels_for(examples, label_map={}) == ["PER", "WAIST"]


def test_long_text_is_windowed_like_inference(tokenizer):
    text = " ".join(["Anh Lê Hoàng Nam ở Cần Thơ."] * 30)
    gold = [span(text, "Lê Hoàng Nam", "PER", nth=k) for k in range(30)]
    features, stats = encode_examples(tokenizer, [(text, gold)], BIO, max_length=32, stride=8)
    assert stats.windows == len(features) > 5
    assert all(len(ids) <= 32 for ids, _ in features)
    for ids, labels in features:
        assert labels[0] == labels[-1] == IGNORE_INDEX
        assert tokenizer.id_to_token(int(ids[0])) == "[CLS]" and tokenizer.id_to_token(int(ids[-1])) == "[SEP]"
    n_b = sum(int((labels == BIO.index("B-PER")).sum()) for _, labels in features)
    assert n_b >= 30  # every name lands in some window, overlaps add a few


@pytest.mark.parametrize("examples, message", [
    ([("text",)], "expected \\(text, spans\\)"),
    ([(3, [])], "text is int"),
    ([("abc", [{"start": 0, "end": 9, "label": "PER"}])], "bad offsets"),
    ([("abc", [{"start": 2, "end": 2, "label": "PER"}])], "bad offsets"),
    ([("abc", [{"start": 0, "label": "PER"}])], "expected a dict with start, end, label"),
    ([("abc", [{"start": 0, "end": 1, "label": ""}])], "label must be"),
])
def test_malformed_examples_are_rejected(examples, message):
    with pytest.raises(ValueError, match=message):
        check_examples(examples)


def test_packing_joins_windows_without_losing_or_reordering_tokens(tokenizer):
    examples = [(t, []) for t in TEXTS]
    features, _ = encode_examples(tokenizer, examples, BIO, max_length=40)
    packed = pack_features(features, max_length=40, seed=1)
    assert len(packed) < len(features)
    assert all(len(ids) <= 40 for ids, _ in packed)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    for ids, labels in packed:
        assert ids[0] == cls_id and ids[-1] == sep_id and (ids[1:-1] != cls_id).all()
        assert labels[0] == labels[-1] == IGNORE_INDEX and (labels[1:-1] != IGNORE_INDEX).all()
    assert sum(len(ids) - 2 for ids, _ in packed) == sum(len(ids) - 2 for ids, _ in features)
    lengths = {len(ids) for ids, _ in packed}
    assert len(lengths) > 2  # target lengths vary: short sequences stay in the mix


# ---------------------------------------------------------------------------- model

@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_presets_build_the_declared_geometry(preset):
    model = build_bert(preset, vocab_size=500, bio=BIO, max_length=128)
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == tuple(PRESETS[preset].values())
    assert cfg.num_labels == len(BIO) and cfg.id2label[1] == "B-PER"
    assert cfg._attn_implementation == "eager"


def test_seeded_models_start_from_the_same_weights():
    a, b = (build_bert("tiny", 300, BIO, 32, seed=5) for _ in range(2))
    c = build_bert("tiny", 300, BIO, 32, seed=6)
    weights = [m.bert.encoder.layer[0].attention.self.query.weight for m in (a, b, c)]
    assert (weights[0] == weights[1]).all() and not (weights[0] == weights[2]).all()


def test_base_preset_is_bert_base():
    assert PRESETS["base"] == {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12}


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        build_bert("huge", 100, BIO, 128)


def test_training_lowers_the_loss():
    examples = [(r["text"], r["gold"]) for r in generated_records(64, seed=3)]
    tokenizer = train_tokenizer([text for text, _ in examples])
    bio = bio_labels(entity_labels_for(examples))
    features, _ = encode_examples(tokenizer, examples, bio, max_length=64)
    model = build_bert("tiny", tokenizer.get_vocab_size(), bio, 64, seed=0)
    figures = train_model(model, features, pad_id=tokenizer.token_to_id(PAD), steps=60, batch_size=16,
                          lr=3e-3, progress=False, num_threads=1)
    assert figures["loss_end"] < figures["loss_start"] / 2
    assert not model.training


# ---------------------------------------------------------------------------- export + entry point

def build_small(out_dir, **kw):
    examples = [(r["text"], r["gold"]) for r in generated_records(200, seed=11)]
    return build_model_from_examples(examples, out_dir, steps=30, batch_size=16, max_length=64, lr=2e-3,
                                     progress=False, name="unit", version="9.9.9", num_threads=1, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("modeling")
    return root, build_small(root / "int8", checkpoint_dir=root / "ckpt")


def test_same_examples_and_seed_build_the_same_model(built, tmp_path):
    _, out = built
    again = build_small(tmp_path / "again")
    assert (again / "model.onnx").read_bytes() == (out / "model.onnx").read_bytes()
    assert (again / "tokenizer.json").read_bytes() == (out / "tokenizer.json").read_bytes()


def test_build_writes_a_valid_model_directory(built):
    _, out = built
    model = ModelDir.load(out)
    card = model.card
    assert (model.name, model.version, model.max_length, model.quantized) == ("unit", "9.9.9", 64, True)
    assert card["metrics"]["onnx_parity_max_abs_diff"] < 1e-3
    assert 0.0 <= card["metrics"]["dev"]["micro"]["f1"] <= 1.0 and card["metrics"]["dev"]["examples"] == 20
    assert card["training"]["steps"] == 30 and "tiny" in card["base_model"]
    examples = [(r["text"], r["gold"]) for r in generated_records(200, seed=11)]
    assert "PER" in card["labels"] and set(card["labels"]) <= set(entity_labels_for(examples))
    assert json.loads((out / "labels.json").read_text()) == bio_labels(card["labels"])


def test_export_fuses_attention_and_quantizes(built):
    _, out = built
    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    # ORT's fused attention (legacy exporter + eager attention), then quantised to int8
    assert {"QAttention", "MatMulInteger", "DynamicQuantizeLinear"} <= ops
    assert "Attention" not in ops and "MatMul" not in ops
    fusions = ModelDir.load(out).card["onnx"]["fusions"]
    assert fusions.get("Attention") == 2


def test_fp32_export_matches_and_is_larger(built, tmp_path):
    root, int8 = built
    fp32 = export_onnx(root / "ckpt", tmp_path / "fp32", quantize=False)
    assert ModelDir.load(fp32).quantized is False
    assert (fp32 / "model.onnx").stat().st_size > 1.5 * (int8 / "model.onnx").stat().st_size


@pytest.mark.parametrize("batch, length", [(1, 3), (3, 17), (5, 64)])
def test_exported_graph_has_dynamic_batch_and_sequence(built, batch, length):
    _, out = built
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask"]
    ids = np.full((batch, length), 7, dtype=np.int64)
    logits = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
    assert logits.shape == (batch, length, len(ModelDir.load(out).bio_labels))


def test_parity_failure_is_reported(built, tmp_path):
    root, _ = built
    with pytest.raises(RuntimeError, match="parity failed"):
        export_onnx(root / "ckpt", tmp_path / "strict", quantize=False, parity_tolerance=0.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"preset": "huge"}, "unknown preset"),
    ({"labels": ["PER", "PER"]}, "duplicate labels"),
    ({"max_length": 40, "stride": 38}, "stride < max_length - 2"),
    ({"dev_fraction": 1.0}, "dev_fraction"),
])
def test_bad_build_arguments_fail_before_training(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model_from_examples([("Hà Nội", [])], tmp_path / "m", progress=False, **kwargs)
    assert not (tmp_path / "m").exists()


def test_no_examples_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no examples"):
        build_model_from_examples([], tmp_path / "m", progress=False)


def test_checkpoint_round_trip_keeps_labels(built, tmp_path, tokenizer):
    model = build_bert("tiny", tokenizer.get_vocab_size(), BIO, 32)
    ckpt = save_checkpoint(model, tokenizer, tmp_path / "ckpt", BIO, 32, {
        "name": "rt", "version": "1", "languages": ["vi"], "labels": ["PER", "LOC", "PHONE"],
        "training_data": "none", "metrics": {}, "created_at": "", "max_length": 32,
        "quantized": False, "base_model": "bert-tiny"})
    out = export_onnx(ckpt, tmp_path / "m", quantize=True)
    model_dir = ModelDir.load(out)
    assert model_dir.bio_labels == tuple(BIO) and model_dir.quantized and model_dir.card["created_at"]
