"""Corpus readers and the dataset registry (udfs/corpora.py, conf/datasets.yaml).

The fixtures in tests/data/corpora are hand-made. The last test reads the real shared corpora
when they are there (NERLAKE_SHARED_DATA, default ../shared/data) and skips otherwise.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nerlake.udfs.bio import RepairReport, repair_examples
from nerlake.udfs.config import ConfigError
from nerlake.udfs.corpora import (CorpusFormatError, load_registry, read_conll, read_dataset, read_jsonl_spans,
                                  read_sample_parquet, read_sample_records, read_uner, shared_data_root,
                                  tokenize_for_spans)
from nerlake.udfs.label_maps import load_label_map, map_labels

FIXTURES = Path(__file__).parent / "data" / "corpora"


def conll(name: str, **kwargs) -> list:
    kwargs.setdefault("dataset", "fx")
    kwargs.setdefault("split", "train")
    return list(read_conll(FIXTURES / name, **kwargs))


def surfaces(ex) -> list[tuple[str, str]]:
    return [(ex.text[s["start"]:s["end"]], s["label"]) for s in ex.spans]


def assert_offsets_consistent(ex):
    assert len(ex.offsets) == len(ex.tokens)
    for tok, (s, e) in zip(ex.tokens, ex.offsets):
        assert ex.text[s:e] == tok


# --------------------------------------------------------------------------- CoNLL

def test_conll_tab_file():
    exs = conll("two_col.conll", delimiter="tab", lang="en", domain="social")
    assert [ex.example_id for ex in exs] == ["fx:train:0", "fx:train:1", "fx:train:2"]
    first, second, third = exs
    assert first.tokens == ["Lan", "visited", "Hue", "with", "Acme", "Widgets", "."]
    assert surfaces(first) == [("Lan", "person"), ("Hue", "location"), ("Acme Widgets", "corporation")]
    # a leading "#" is a hashtag token, not a comment; the stray spaces around a token go
    assert second.tokens == ["#tbt", "to", "the", "Blue", "Owls", "gig", "😀"]
    # with a tab delimiter a token may contain a space
    assert third.tokens == ["ke s", "Minh"] and third.labels == ["O", "B-person"]
    for ex in exs:
        assert (ex.dataset, ex.split, ex.lang, ex.domain) == ("fx", "train", "en", "social")
        assert_offsets_consistent(ex)


@pytest.mark.parametrize("name, delimiter, tokens, spans", [
    ("vi_syllable.txt", "whitespace",
     ["Anh", "Nguyễn", "Văn", "Ba", "sống", "ở", "Hà", "Nội"],
     [("Anh Nguyễn Văn Ba", "PER"), ("Hà Nội", "LOC")]),
    ("vi_syllable.txt", "auto",
     ["Anh", "Nguyễn", "Văn", "Ba", "sống", "ở", "Hà", "Nội"],
     [("Anh Nguyễn Văn Ba", "PER"), ("Hà Nội", "LOC")]),
    # word-level files keep the "_" inside multi-syllable words
    ("vi_word.txt", "tab",
     ["Nguyễn_Văn_Ba", "sống", "ở", "Hà_Nội"],
     [("Nguyễn_Văn_Ba", "PER"), ("Hà_Nội", "LOC")]),
])
def test_conll_vietnamese_two_column_files(name, delimiter, tokens, spans):
    first = conll(name, delimiter=delimiter, lang="vi")[0]
    assert first.tokens == tokens
    assert surfaces(first) == spans
    assert first.text == " ".join(tokens)


def test_conll_io_file_with_label_column():
    exs = conll("sec_style.txt", delimiter="whitespace", columns=4, label_column=3, encoding="io")
    assert len(exs) == 2  # the -DOCSTART- lines make no sentence
    assert surfaces(exs[0]) == [("Quill Paper Inc", "ORG"), ("Ada Byrne", "PER")]
    assert exs[0].labels[3:6] == ["B-ORG", "I-ORG", "I-ORG"]
    # IOB1's B-PER separates "Kent Ray" from "Lee Wu"
    assert surfaces(exs[1]) == [("Ohio", "LOC"), ("Kent Ray", "PER"), ("Lee Wu", "PER")]


def test_conll_io_cannot_split_touching_same_type_entities():
    exs = conll("io_two_col.txt", encoding="io")
    # "Oslo Norway" is two places in the text, but IO marks one run of I-LOC
    assert surfaces(exs[0]) == [("1998", "MISC"), ("The Quiet Lamps", "ORG"), ("Oslo Norway", "LOC")]
    assert surfaces(exs[1]) == [("Mira Holt", "PER")]


def test_conll_bio_encoding_keeps_labels_as_read():
    # read as BIO, the IO file's labels are left alone (repair is a separate step)
    exs = conll("io_two_col.txt")
    assert exs[0].labels[:4] == ["I-MISC", "O", "O", "I-ORG"]


def test_conll_malformed_line_raises_with_file_and_line():
    with pytest.raises(CorpusFormatError, match=r"malformed\.conll:4: expected 2 columns, found 3") as info:
        conll("malformed.conll")
    assert info.value.problem.line == 4


def test_conll_collect_mode_reports_every_problem():
    problems = []
    exs = conll("malformed.conll", on_error="collect", problems=problems)
    assert [(p.line, p.reason.split(";")[0]) for p in problems] == [
        (4, "expected 2 columns, found 3"),
        (5, "expected 2 columns, found 1"),
        (6, "empty token"),
        (7, "bad BIO label 'B-': expected O, B-<type> or I-<type>"),
        (10, "expected 2 columns, found 1"),
        (10, "sentence has no valid line"),  # its only line was malformed
    ]
    assert problems[-1].example_id == "fx:train:2"
    # ids count every sentence of the file, the dropped one included
    assert [(ex.example_id, ex.tokens) for ex in exs] == [
        ("fx:train:0", ["Good", "line"]), ("fx:train:1", ["Vy"]), ("fx:train:3", ["Last"])]


@pytest.mark.parametrize("kwargs, message", [
    ({"on_error": "skip"}, "on_error must be one of raise, collect"),
    ({"on_error": "collect"}, "needs a problems list"),
    ({"delimiter": "comma"}, "delimiter must be one of"),
    ({"encoding": "bioes"}, "encoding must be one of"),
])
def test_conll_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conll("two_col.conll", **kwargs)


# --------------------------------------------------------------------------- UNER

def test_uner_reader():
    exs = list(read_uner(FIXTURES / "sample.iob2", dataset="uner_fx", split="dev", lang="en", domain="web"))
    assert [ex.example_id for ex in exs] == ["uner_fx:dev:doc-1-s1", "uner_fx:dev:doc-1-s2", "uner_fx:dev:doc-1-s3"]
    first, second, third = exs
    assert first.text == "Tam moved to New Lyon, didn't she?"
    # aligned to "# text", not re-joined: "n't" follows "did" with no space
    assert first.tokens[6:8] == ["did", "n't"] and first.offsets[6:8] == [(23, 26), (26, 29)]
    assert surfaces(first) == [("Tam", "PER"), ("New Lyon", "LOC")]
    assert second.tokens[0] == "#" and surfaces(second) == [("Orbit Labs", "ORG")]
    assert third.labels == ["O", "I-PER"]  # read as written; repair comes after
    for ex in exs:
        assert_offsets_consistent(ex)


def test_uner_text_without_spaces():
    (ex,) = read_uner(FIXTURES / "zh.iob2", dataset="z", split="dev", lang="zh")
    assert ex.text == "王芳去北京" and surfaces(ex) == [("王芳", "PER"), ("北京", "LOC")]


def test_uner_malformed_raises():
    with pytest.raises(CorpusFormatError, match=r"malformed\.iob2:4: expected 5 tab-separated columns"):
        list(read_uner(FIXTURES / "malformed.iob2", dataset="m", split="dev"))


def test_uner_collect_mode():
    problems = []
    exs = list(read_uner(FIXTURES / "malformed.iob2", dataset="m", split="dev", on_error="collect",
                         problems=problems))
    assert [(p.line, p.reason.split(" (")[0].split(";")[0]) for p in problems] == [
        (4, "expected 5 tab-separated columns"),
        (5, "token index '4', expected 2"),
        (7, "duplicate sent_id 'm1'"),
        (11, "tokens do not match '# text'"),
    ]
    assert [(ex.example_id, ex.tokens, ex.text) for ex in exs] == [
        ("m:dev:m1", ["A", "C"], "A B C"), ("m:dev:m3", ["X", "Z"], "X Z")]


# --------------------------------------------------------------------------- span records

def test_tokenize_for_spans_cuts_tokens_at_span_edges():
    text = "Size 0,65mx107cm please"
    spans = [{"start": 5, "end": 10, "label": "Q"}, {"start": 11, "end": 16, "label": "Q"}]
    assert [t for t, _, _ in tokenize_for_spans(text, spans)] == ["Size", "0,65m", "x", "107cm", "please"]


def test_jsonl_spans():
    exs = list(read_jsonl_spans(FIXTURES / "spans.jsonl", dataset="js", split="train", lang="en"))
    assert [ex.example_id for ex in exs] == ["js:train:7", "js:train:1", "js:train:x"]
    first, second, third = exs
    assert surfaces(first) == [("Ana Reyes", "person"), ("Helio Corp", "corporation"), ("Cebu", "location")]
    assert first.labels[:2] == ["B-person", "I-person"]
    # spans that cut through a simple_tokenize token stay exact
    assert surfaces(second) == [("0,65m", "QUANTITY"), ("107cm", "QUANTITY")]
    assert third.spans == [] and set(third.labels) == {"O"}
    for ex in exs:
        assert_offsets_consistent(ex)


def test_json_array_with_entity_dicts():
    exs = list(read_jsonl_spans(FIXTURES / "spans.json", dataset="ja", split="dev"))
    assert [ex.example_id for ex in exs] == ["ja:dev:a", "ja:dev:b"]
    assert surfaces(exs[0]) == [("Bao", "PER"), ("Dong Hoi", "LOC")]


def test_jsonl_malformed_records():
    with pytest.raises(CorpusFormatError, match=r"malformed\.jsonl:2: span .* outside the text"):
        list(read_jsonl_spans(FIXTURES / "malformed.jsonl", dataset="j", split="train"))
    problems = []
    exs = list(read_jsonl_spans(FIXTURES / "malformed.jsonl", dataset="j", split="train", on_error="collect",
                                problems=problems))
    assert [ex.example_id for ex in exs] == ["j:train:ok"]
    assert [(p.line, p.reason.split(":")[0].split(" (")[0]) for p in problems] == [
        (2, "span [0, 40, 'PER'] is outside the text"),
        (3, "spans overlap"),
        (4, "bad JSON"),
        (5, "record has no text; left out"),
        (6, "duplicate id; left out"),
        (7, "span [0, 3, ' '] has no type; left out"),
    ]


def test_sample_generator_records_keep_their_gold_exactly():
    from nerlake.udfs.sample_generator import generate_records, is_defect

    records = list(generate_records(300, seed=11, defect_rate=0.05))
    problems = []
    exs = {ex.example_id: ex for ex in read_sample_records(records, on_error="collect", problems=problems)}
    defects = [i for i, rec in enumerate(records) if is_defect(rec, i)]
    assert defects and len(problems) == len(defects)
    assert sorted(p.line - 1 for p in problems) == defects
    assert len(exs) == len(records) - len(defects)
    for i, rec in enumerate(records):
        if i in defects:
            continue
        ex = exs[f"sample:train:{rec['id']}"]
        assert (ex.lang, ex.domain, ex.text) == (rec["lang"], rec["domain"], rec["text"])
        gold = [(g["start"], g["end"], g["label"]) for g in rec["gold"]]
        assert [(s["start"], s["end"], s["label"]) for s in ex.spans] == gold
        assert_offsets_consistent(ex)


def test_sample_parquet(tmp_path):
    import pyarrow.parquet as pq

    from nerlake.udfs.sample_generator import generate_records, records_to_arrow

    records = list(generate_records(40, seed=5, defect_rate=0.0))
    pq.write_table(records_to_arrow(records), tmp_path / "sample.parquet")
    exs = list(read_sample_parquet(tmp_path / "sample.parquet", dataset="gen", split="dev", batch_size=7))
    assert [ex.example_id for ex in exs] == [f"gen:dev:{rec['id']}" for rec in records]
    assert all(len(ex.spans) == len(rec["gold"]) for ex, rec in zip(exs, records))


def test_sample_record_defects_raise_by_default():
    with pytest.raises(CorpusFormatError, match=r"records:2: text is blank"):
        list(read_sample_records([{"id": "a", "text": "Hi", "gold": []}, {"id": "b", "text": "  ", "gold": []}]))


# --------------------------------------------------------------------------- registry

def fixture_registry():
    return load_registry(FIXTURES / "registry.yaml")


def test_packaged_registry():
    registry = load_registry()
    assert {"uner_en_ewt", "crossner_ai", "wnut17", "btc", "wikigold", "sec_filings"} <= set(registry)
    assert set(registry["uner_en_ewt"].splits) == {"dev"}
    assert registry["btc"].splits["train"].files[0] == "btc/a.conll"
    assert registry["sec_filings"].label_column == 3 and registry["sec_filings"].encoding == "io"
    for spec in registry.values():
        load_label_map(spec.label_map)
        for split in spec.splits.values():
            assert split.sentences and split.entities is not None


@pytest.mark.parametrize("dataset, split", [
    ("fx_social", "train"), ("fx_social", "dev"), ("fx_sec", "train"), ("fx_uner", "dev"), ("fx_spans", "train")])
def test_read_dataset_counts_match_the_registry(dataset, split):
    registry = fixture_registry()
    report = RepairReport("begin")
    exs = list(repair_examples(read_dataset(dataset, split, FIXTURES, registry=registry), "begin", report))
    expected = registry[dataset].splits[split]
    assert len(exs) == expected.sentences
    assert sum(report.stats[(dataset, split)].entities_before.values()) == expected.entities
    assert len({ex.example_id for ex in exs}) == len(exs)
    assert all(ex.dataset == dataset and ex.split == split for ex in exs)


def test_multi_file_splits_name_the_file_in_ids():
    exs = list(read_dataset("fx_social", "dev", FIXTURES, registry=fixture_registry()))
    assert [ex.example_id for ex in exs] == [
        "fx_social:dev:two_col:0", "fx_social:dev:two_col:1", "fx_social:dev:two_col:2",
        "fx_social:dev:vi_word:0", "fx_social:dev:vi_word:1"]


def test_read_dataset_errors(tmp_path):
    registry = fixture_registry()
    with pytest.raises(ConfigError, match="unknown dataset 'nope'.*fx_sec"):
        read_dataset("nope", "train", FIXTURES, registry=registry)
    with pytest.raises(ConfigError, match="has no split 'test'; it has: dev"):
        read_dataset("fx_uner", "test", FIXTURES, registry=registry)
    with pytest.raises(FileNotFoundError, match="NERLAKE_SHARED_DATA"):
        read_dataset("fx_uner", "dev", tmp_path, registry=registry)
    with pytest.raises(ValueError, match="needs a problems list"):
        read_dataset("fx_uner", "dev", FIXTURES, registry=registry, on_error="collect")


@pytest.mark.parametrize("change, message", [
    ({"format": "csv"}, "format: 'csv' is not allowed"),
    ({"label_map": "nowhere"}, "no label map 'nowhere'"),
    ({"colour": "red"}, "unknown key datasets.x.colour"),
    ({"columns": 2, "label_column": 5}, "label_column: 5 is out of range"),
    ({"splits": {}}, "splits"),
    ({"splits": {"train": {"files": []}}}, "files"),
])
def test_bad_registry_entries(tmp_path, change, message):
    entry = {"format": "conll", "lang": "en", "domain": "web", "label_map": "uner",
             "splits": {"train": {"files": ["a.txt"]}}, **change}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"datasets": {"x": entry}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_registry(tmp_path / "r.yaml")


def test_shared_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv("NERLAKE_SHARED_DATA", raising=False)
    repo_root = Path(__file__).resolve().parents[1]
    assert shared_data_root() == repo_root.parent / "shared" / "data"
    monkeypatch.setenv("NERLAKE_SHARED_DATA", str(tmp_path))
    assert shared_data_root() == tmp_path
    assert shared_data_root("/elsewhere") == Path("/elsewhere")


# --------------------------------------------------------------------------- real corpora

def _registered_splits():
    return [(name, split) for name, spec in load_registry().items() for split in spec.splits]


@pytest.mark.parametrize("dataset, split", _registered_splits())
def test_shared_corpora_match_their_source_counts(dataset, split):
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared corpora not found at {root} (set NERLAKE_SHARED_DATA)")
    spec = load_registry()[dataset]
    problems, report = [], RepairReport("begin")
    exs = list(repair_examples(read_dataset(dataset, split, root, on_error="collect", problems=problems),
                               "begin", report))
    stats = report.stats[(dataset, split)]
    # SOURCE.md counted blank-line blocks: a block made only of malformed lines is one of them
    dropped = sum("sentence has no valid line" in p.reason for p in problems)
    expected = spec.splits[split]
    assert (stats.sentences + dropped, sum(stats.entities_before.values())) == (expected.sentences, expected.entities)
    assert len({ex.example_id for ex in exs}) == len(exs)
    # every label of the corpus is known to its map, at both levels
    label_map = load_label_map(spec.label_map)
    seen = sorted(stats.labels_seen)
    for level in ("standard", "core"):
        map_labels(seen, label_map, level, strict=True)
