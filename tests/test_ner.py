import os
import unicodedata

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nerlake.udfs.config import ConfigError, from_dict
from nerlake.udfs.modeling import export_onnx
from nerlake.udfs.ner import (NerConfig, OnnxNer, ProviderError, decode_bio, default_threads, edge_distance,
                              get_ner, gpu_visible, resolve_providers, window_starts)
from nerlake.udfs.spans import Span

from model_fixture import checkpoint_dir_for, generated_records

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
BIO = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


@pytest.fixture(scope="module")
def model_dirs(test_model_dir, tmp_path_factory):
    """(int8, fp32): the session's test model (conftest) and an fp32 export of it."""
    fp32 = export_onnx(checkpoint_dir_for(test_model_dir), tmp_path_factory.mktemp("ner") / "fp32", quantize=False)
    return test_model_dir, fp32


@pytest.fixture(scope="module")
def ner(model_dirs):
    return OnnxNer(model_dirs[0], NerConfig(providers="cpu"))


@pytest.fixture(scope="module")
def records():
    return list(generated_records(80, seed=12345))  # a seed the model was not trained on


def triples(spans):
    return [(s.start, s.end, s.label) for s in spans]


def assert_valid(spans, text, labels):
    previous_end = 0
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        surface = text[s.start:s.end]
        assert surface == surface.strip() and surface
        assert s.label in labels and s.source == "model"
        assert 0.0 < s.score <= 1.0
        assert s.start >= previous_end  # document order, no overlaps
        previous_end = s.end


# ---------------------------------------------------------------------------- pure helpers

@pytest.mark.parametrize("n, window, stride", [(1, 10, 2), (10, 10, 2), (11, 10, 2), (100, 10, 0), (100, 10, 9),
                                               (1000, 126, 32), (127, 126, 32)])
def test_windows_cover_every_token_with_the_stride_as_overlap(n, window, stride):
    starts = window_starts(n, window, stride)
    assert starts[0] == 0 and min(starts[-1] + window, n) == n
    covered = np.zeros(n, dtype=int)
    for s in starts:
        covered[s:s + window] += 1
    assert covered.min() >= 1
    for a, b in zip(starts, starts[1:]):
        assert window - (b - a) >= stride  # consecutive windows share at least `stride` tokens


def test_window_arguments_are_checked():
    with pytest.raises(ValueError, match="stride < window"):
        window_starts(50, 10, 10)


@pytest.mark.parametrize("start, end, n, expected", [
    (0, 5, 5, [5, 5, 5, 5, 5]),  # the whole text: no edge at all
    (0, 5, 9, [4, 3, 2, 1, 0]),  # first window: only the right edge counts
    (4, 9, 9, [0, 1, 2, 3, 4]),  # last window: only the left edge counts
    (2, 7, 9, [0, 1, 2, 1, 0]),
])
def test_edge_distance(start, end, n, expected):
    assert edge_distance(start, end, n).tolist() == expected


def decode(tags, text="Anh Lê Nam ở Huế nhé", offsets=((0, 3), (4, 6), (7, 10), (11, 12), (13, 16), (17, 20)),
           probs=None, min_score=0.0):
    ids = np.array([BIO.index(t) for t in tags])
    probs = np.array(probs if probs is not None else [0.9] * len(tags), dtype=np.float32)
    return [(text[s.start:s.end], s.label, round(s.score, 3))
            for s in decode_bio(ids, probs, np.array(offsets), text, BIO, min_score)]


@pytest.mark.parametrize("tags, expected", [
    (["O", "B-PER", "I-PER", "O", "B-LOC", "O"], [("Lê Nam", "PER", 0.9), ("Huế", "LOC", 0.9)]),
    (["O", "I-PER", "I-PER", "O", "I-LOC", "O"], [("Lê Nam", "PER", 0.9), ("Huế", "LOC", 0.9)]),  # no B-
    (["O", "B-PER", "B-PER", "O", "O", "O"], [("Lê", "PER", 0.9), ("Nam", "PER", 0.9)]),
    (["O", "B-PER", "I-LOC", "O", "O", "O"], [("Lê", "PER", 0.9), ("Nam", "LOC", 0.9)]),  # type change
    (["O", "B-PER", "O", "I-PER", "O", "O"], [("Lê", "PER", 0.9), ("ở", "PER", 0.9)]),  # gap breaks it
    (["B-PER", "I-PER", "I-PER", "I-PER", "I-PER", "I-PER"], [("Anh Lê Nam ở Huế nhé", "PER", 0.9)]),
    (["O"] * 6, []),
])
def test_decode_bio(tags, expected):
    assert decode(tags) == expected


def test_decode_scores_are_token_means_and_min_score_filters():
    tags = ["O", "B-PER", "I-PER", "O", "B-LOC", "O"]
    probs = [0.9, 0.6, 0.8, 0.9, 0.5, 0.9]
    assert decode(tags, probs=probs) == [("Lê Nam", "PER", 0.7), ("Huế", "LOC", 0.5)]
    assert decode(tags, probs=probs, min_score=0.6) == [("Lê Nam", "PER", 0.7)]


def test_decode_trims_whitespace_inside_token_offsets():
    text = " Huế  "
    assert decode(["B-LOC"], text=text, offsets=((0, 6),)) == [("Huế", "LOC", 0.9)]
    assert decode(["B-LOC"], text="   ", offsets=((0, 3),)) == []


@pytest.mark.parametrize("requested, available, gpu, expected", [
    ("auto", [CPU], True, [CPU]),
    ("auto", [CUDA, CPU], True, [CUDA, CPU]),
    ("auto", [TRT, CUDA, CPU], True, [TRT, CUDA, CPU]),
    ("auto", [TRT, CUDA, CPU], False, [CPU]),
    ("cpu", [TRT, CUDA, CPU], True, [CPU]),
    ("cuda", [CUDA, CPU], True, [CUDA, CPU]),
    ("tensorrt", [TRT, CUDA, CPU], True, [TRT, CUDA, CPU]),
])
def test_resolve_providers(requested, available, gpu, expected):
    assert resolve_providers(requested, available, gpu) == expected


@pytest.mark.parametrize("requested, available, gpu, message", [
    ("cuda", [CPU], True, "only has CPUExecutionProvider; install onnxruntime-gpu"),
    ("tensorrt", [CUDA, CPU], True, "only has"),
    ("cuda", [CUDA, CPU], False, "hides every GPU"),
    ("gpu", [CPU], True, "unknown provider 'gpu'"),
])
def test_unusable_provider_is_a_clear_error(requested, available, gpu, message):
    with pytest.raises(ProviderError, match=message):
        resolve_providers(requested, available, gpu)


@pytest.mark.parametrize("env, visible", [({}, True), ({"CUDA_VISIBLE_DEVICES": "0"}, True),
                                          ({"CUDA_VISIBLE_DEVICES": ""}, False),
                                          ({"CUDA_VISIBLE_DEVICES": "-1"}, False)])
def test_gpu_visible(env, visible):
    assert gpu_visible(env) is visible


@pytest.mark.parametrize("env, threads", [({"SPARK_TASK_CPUS": "3"}, 3), ({"spark.task.cpus": "2"}, 2),
                                          ({"OMP_NUM_THREADS": "4"}, 4),
                                          ({"SPARK_TASK_CPUS": "2", "OMP_NUM_THREADS": "8"}, 2),
                                          ({"SPARK_TASK_CPUS": " "}, None), ({}, None)])
def test_default_threads(env, threads):
    expected = threads or getattr(os, "process_cpu_count", os.cpu_count)()
    assert default_threads(env) == expected


def test_default_threads_rejects_garbage():
    with pytest.raises(ConfigError, match="SPARK_TASK_CPUS='two'"):
        default_threads({"SPARK_TASK_CPUS": "two"})


@pytest.mark.parametrize("data, message", [
    ({"providers": "gpu"}, "providers: 'gpu' is not allowed"),
    ({"stride": -1}, "stride: -1 is not allowed"),
    ({"batch_size": 0}, "batch_size: 0"),
    ({"min_score": 1.5}, "min_score: 1.5"),
    ({"max_length": 2}, "max_length: 2"),
    ({"bogus": 1}, "unknown key bogus"),
])
def test_config_validation(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(NerConfig, data)
    if "bogus" not in data:  # direct construction is checked too
        with pytest.raises(ConfigError, match=message):
            NerConfig(**data)


# ---------------------------------------------------------------------------- the model

def test_properties(ner):
    assert ner.model_name == "test-model" and ner.model_version == "0.0.1"
    assert {"PER", "LOC", "PHONE"} <= set(ner.entity_labels)
    assert ner.providers == [CPU]


def test_finds_entities_in_unseen_records(ner, records):
    predictions = ner.predict([r["text"] for r in records])
    found, total = {}, {}
    for record, spans in zip(records, predictions):
        predicted = set(triples(spans))
        for g in record["gold"]:
            if g["label"] in ("PER", "LOC", "PHONE"):
                total[g["label"]] = total.get(g["label"], 0) + 1
                found[g["label"]] = found.get(g["label"], 0) + ((g["start"], g["end"], g["label"]) in predicted)
    for label in ("PER", "LOC", "PHONE"):
        assert total[label] >= 5
        assert found[label] / total[label] >= 0.3, (label, found[label], total[label])


def test_results_come_back_in_input_order(ner, records):
    texts = [r["text"] for r in records[:10]]
    assert ner.predict(texts[::-1]) == ner.predict(texts)[::-1]


def test_empty_blank_and_null_texts(ner):
    assert ner.predict([]) == []
    assert ner.predict(["", "   ", "\n\t", None, float("nan")]) == [[], [], [], [], []]


def test_a_pandas_series_is_accepted(ner, records):
    import pandas as pd

    texts = [r["text"] for r in records[:5]] + [None]
    assert ner.predict(pd.Series(texts, dtype=object)) == ner.predict(texts)


def test_non_text_input_is_a_clear_error(ner):
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        ner.predict(["Hà Nội", 3])
    with pytest.raises(TypeError, match=r"texts\[0\] is bytes"):
        ner.predict([b"Ha Noi"])


ODD_TEXTS = [
    "😀 Anh Nguyễn Văn An 👨‍👩‍👧 ở Hà Nội 🇻🇳, sđt 0901234567 😀",
    "Chị Lê Thị Hoà ở 東京 và Москва, gọi 0912 345 678",
    "مرحبا Trần Văn Bình שלום ở Huế",
    "zero\u200bwidth\u200dNguyễn\ufeffVăn An\u00ad ở Đà Nẵng",
    "ctrl\x00\x01\x07\x1b[31m Phạm Văn Đức\x7f ở Cần Thơ",
    "\u0301\u0303 combining marks first, Hà Nội",
    "\u1100\u1161\u11a8 jamo then Hải Phòng",
    "x" * 5000,
    "0901234567" * 300,
    "!!!???...,,,;;;",
    "\ud800 lone surrogate Nguyễn Văn An \udfff ở Huế",
    "\r\n\r\nLê Văn Tám\r\n",
    "Ω≈ç√∫˜µ≤≥÷ åß∂ƒ©˙∆˚¬…æ",
]


@pytest.mark.parametrize("text", ODD_TEXTS, ids=range(len(ODD_TEXTS)))
def test_odd_texts_give_valid_spans(ner, text):
    spans, = ner.predict([text])
    assert_valid(spans, text, ner.entity_labels)


def test_odd_texts_still_yield_entities(ner):
    spans = [s for text_spans in ner.predict(ODD_TEXTS) for s in text_spans]
    assert len(spans) >= 10 and {"PER", "LOC"} <= {s.label for s in spans}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(st.characters(exclude_categories=()), max_size=300), min_size=1, max_size=4))
def test_any_unicode_text_never_raises(ner, texts):
    for text, spans in zip(texts, ner.predict(texts)):
        assert_valid(spans, text, ner.entity_labels)


def test_nfd_input_gives_the_same_entities_with_offsets_into_the_nfd_text(ner, records):
    texts = [r["text"] for r in records]
    nfd = [unicodedata.normalize("NFD", t) for t in texts]
    assert nfd != texts
    for nfc_text, nfd_text, spans_nfc, spans_nfd in zip(texts, nfd, ner.predict(texts), ner.predict(nfd)):
        assert_valid(spans_nfd, nfd_text, ner.entity_labels)
        assert [(unicodedata.normalize("NFC", nfd_text[s.start:s.end]), s.label) for s in spans_nfd] == \
               [(nfc_text[s.start:s.end], s.label) for s in spans_nfc]


@pytest.mark.parametrize("cfg", [NerConfig(providers="cpu"), NerConfig(providers="cpu", max_length=32, stride=8)])
def test_confident_entities_of_a_short_text_are_found_again_inside_a_long_one(model_dirs, records, cfg):
    # The exact check of the window merge is the reference test below; this one checks the
    # whole path end to end. Context legitimately changes a weak model's output (the tiny
    # test model fragments entities), so only its confident spans are expected back, and
    # most rather than all of them (measured: 69% and 77% for these two configs).
    ner = OnnxNer(model_dirs[0], cfg)
    filler = " ".join(r["text"] for r in records[:40])  # far more tokens than one window
    expected, found = 0, 0
    for record in records[40:80]:
        short = record["text"]
        long = filler + "\n" + short + "\n" + filler
        shift = len(filler) + 1
        again = set(triples(ner.predict([long])[0]))
        for s in ner.predict([short])[0]:
            if s.score >= 0.9:
                expected += 1
                found += (s.start + shift, s.end + shift, s.label) in again
    assert expected >= 30
    assert found / expected >= 0.5, (found, expected)


def test_window_merge_matches_a_token_by_token_reference(model_dirs, records):
    """Run every window on its own, pick per token the window where it is farthest from an
    edge (earliest on ties) the plain way, decode; predict must give exactly that.
    fp32: int8 activations are quantised per batch, so batch composition moves its scores."""
    ner = OnnxNer(model_dirs[1], NerConfig(providers="cpu", max_length=24, stride=6))
    text = " ".join(r["text"] for r in records[:12])
    encoding = ner.tokenizer.encode(text, add_special_tokens=False)
    ids = [np.asarray(encoding.ids, dtype=np.int64)]
    n = len(encoding.ids)
    starts = window_starts(n, ner.window, ner.cfg.stride)
    assert len(starts) > 10
    runs = [(s, min(s + ner.window, n), *ner._run(ids, [(0, s, min(s + ner.window, n))])) for s in starts]
    labels, probs = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.float32)
    for j in range(n):
        best = None
        for s, e, lab, prob in runs:
            if s <= j < e:
                left = j - s if s > 0 else n
                right = e - 1 - j if e < n else n
                if best is None or min(left, right) > best[0]:
                    best = (min(left, right), lab[0, j - s + 1], prob[0, j - s + 1])
        labels[j], probs[j] = best[1], best[2]
    offsets = np.asarray(encoding.offsets)
    expected = decode_bio(labels, probs, offsets, text, ner.model.bio_labels)
    got, = ner.predict([text])
    assert triples(got) == triples(expected) and len(got) > 5
    assert [s.score for s in got] == pytest.approx([s.score for s in expected], abs=1e-5)


def test_long_text_windows_are_merged_into_one_valid_result(model_dirs, records):
    ner = OnnxNer(model_dirs[0], NerConfig(providers="cpu", max_length=24, stride=6))
    text = " ".join(r["text"] for r in records)
    n_tokens = len(ner.tokenizer.encode(text, add_special_tokens=False).ids)
    assert len(window_starts(n_tokens, ner.window, ner.cfg.stride)) > 20
    spans, = ner.predict([text])
    assert_valid(spans, text, ner.entity_labels)
    assert spans[-1].end > 0.9 * len(text)  # the last window contributed


BUCKETING_CONFIGS = [
    NerConfig(providers="cpu"),
    NerConfig(providers="cpu", sort_by_length=False),
    NerConfig(providers="cpu", batch_size=3, max_batch_tokens=256, max_length=48, stride=12),
]


def batched_and_alone(model_dir, cfg, records):
    ner = OnnxNer(model_dir, cfg)
    texts = [r["text"] for r in records[:30]] + [" ".join(r["text"] for r in records[30:45])]
    return ner.predict(texts), [ner.predict([text])[0] for text in texts]


@pytest.mark.parametrize("cfg", BUCKETING_CONFIGS)
def test_bucketing_gives_the_same_result_as_one_by_one(model_dirs, records, cfg):
    batched, alone = batched_and_alone(model_dirs[1], cfg, records)  # fp32: exact up to float noise
    for spans, reference in zip(batched, alone):
        assert triples(spans) == triples(reference)
        assert [s.score for s in spans] == pytest.approx([s.score for s in reference], abs=1e-4)


@pytest.mark.parametrize("cfg", BUCKETING_CONFIGS)
def test_int8_bucketing_stays_close_to_one_by_one(model_dirs, records, cfg):
    # Dynamic int8 quantises activations with one scale per batch, so neighbours in a batch
    # nudge a text's probabilities (measured: up to ~1e-3) and flip near-tie tokens of the
    # weak test model (measured: 98.8-99.3% of spans identical).
    batched, alone = batched_and_alone(model_dirs[0], cfg, records)
    a = {(i, *t) for i, spans in enumerate(batched) for t in triples(spans)}
    b = {(i, *t) for i, spans in enumerate(alone) for t in triples(spans)}
    assert len(a & b) / len(a | b) >= 0.95


def test_batches_respect_the_limits_and_sort_longest_first(model_dirs):
    ner = OnnxNer(model_dirs[0], NerConfig(providers="cpu", batch_size=4, max_batch_tokens=100))
    rng = np.random.default_rng(0)
    windows = [(i, 0, int(n)) for i, n in enumerate(rng.integers(1, 40, size=50))]
    batches = list(ner._batches(windows))
    assert sorted(w for b in batches for w in b) == sorted(windows)
    lengths = [w[2] - w[1] for b in batches for w in b]
    assert lengths == sorted(lengths, reverse=True)
    for b in batches:
        assert len(b) <= 4
        assert len(b) == 1 or len(b) * (max(w[2] - w[1] for w in b) + 2) <= 100


def test_fp32_and_int8_agree(model_dirs, records):
    # measured: 99% of spans identical
    texts = [r["text"] for r in records]
    int8 = OnnxNer(model_dirs[0], NerConfig(providers="cpu")).predict(texts)
    fp32 = OnnxNer(model_dirs[1], NerConfig(providers="cpu")).predict(texts)
    a = {(i, *t) for i, spans in enumerate(int8) for t in triples(spans)}
    b = {(i, *t) for i, spans in enumerate(fp32) for t in triples(spans)}
    assert len(a & b) / max(len(a | b), 1) >= 0.9


def test_min_score_drops_weak_entities(model_dirs, records):
    texts = [r["text"] for r in records[:30]]
    everything = [s for spans in OnnxNer(model_dirs[0], NerConfig(providers="cpu")).predict(texts) for s in spans]
    threshold = float(np.median([s.score for s in everything]))
    strict = OnnxNer(model_dirs[0], NerConfig(providers="cpu", min_score=threshold)).predict(texts)
    kept = [s for spans in strict for s in spans]
    assert kept and all(s.score >= threshold for s in kept)
    assert len(kept) == sum(s.score >= threshold for s in everything) < len(everything)


def test_cuda_without_cuda_is_a_clear_error(model_dirs):
    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ProviderError, match="providers='cuda' but this onnxruntime only has"):
        OnnxNer(model_dirs[0], NerConfig(providers="cuda"))


def test_auto_on_a_cpu_machine_runs_on_cpu(model_dirs, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")  # whatever the machine has, no GPU visible
    assert OnnxNer(model_dirs[0], NerConfig(providers="auto")).providers == [CPU]


@pytest.mark.parametrize("cfg, message", [
    (NerConfig(max_length=4096), "exceeds the 128 tokens"),
    (NerConfig(max_length=40, stride=38), "stride: 38 must be < max_length - 2 = 38"),
])
def test_config_checked_against_the_model(model_dirs, cfg, message):
    with pytest.raises(ConfigError, match=message):
        OnnxNer(model_dirs[0], cfg)


def test_get_ner_loads_once_per_model_and_config(model_dirs, tmp_path, monkeypatch):
    int8 = model_dirs[0]
    link = tmp_path / "link"
    link.symlink_to(int8, target_is_directory=True)
    first = get_ner(str(int8), NerConfig(providers="cpu"))
    assert get_ner(str(link), NerConfig(providers="cpu")) is first
    monkeypatch.chdir(int8.parent)
    assert get_ner(int8.name, NerConfig(providers="cpu")) is first
    assert get_ner(str(int8), NerConfig(providers="cpu", batch_size=8)) is not first
    assert isinstance(first.predict(["Anh Lê Văn Tám ở Huế"])[0], list)


def test_a_pickled_udf_closure_carries_no_model(model_dirs):
    from pyspark import cloudpickle  # what Spark ships UDFs with

    model_dir, cfg = str(model_dirs[0]), NerConfig(providers="cpu")
    loaded = get_ner(model_dir, cfg)

    def udf(texts):
        return get_ner(model_dir, cfg).predict(texts)

    payload = cloudpickle.dumps(udf)
    assert len(payload) < 4000  # references to get_ner and the config, not the session
    assert cloudpickle.loads(payload)(["Anh Lê Văn Tám ở Huế"]) == loaded.predict(["Anh Lê Văn Tám ở Huế"])


def test_spans_are_the_project_span_type(ner, records):
    spans = [s for spans in ner.predict([r["text"] for r in records[:5]]) for s in spans]
    assert spans and all(isinstance(s, Span) for s in spans)
