"""Thin Spark glue of the training-data jobs: ``mapInArrow`` functions over task rows.

Each task row names a unit of work (one dataset split to read, or one chunk of generated
records); the task writes ``training_examples`` data files and yields their descriptions
plus one row of counters (JSON), exactly like the extraction job's glue, so the driver can
commit each (dataset, split) partition once.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Iterator

import pyarrow as pa

from .bio import RepairReport, repair_examples
from .corpora import load_registry, read_dataset, read_sample_records
from .examples import Example
from .label_maps import load_label_map, map_example
from .parquet_sink import FILE_FIELDS, TableFiles
from .splits import assign_split

TASK_SCHEMA = pa.schema([
    ("kind", pa.string()),  # "corpus" or "sample"
    ("dataset", pa.string()),
    ("split", pa.string()),  # the corpus split to read; for samples: ignored
    ("label_map", pa.string()),
    ("resplit", pa.bool_()),  # assign train/dev/test by hash of example_id
    ("start", pa.int64()),  # samples: first record index
    ("count", pa.int64()),  # samples: number of records
    ("seed", pa.int64()),
])
OUTPUT_SCHEMA = pa.schema([
    ("kind", pa.string()),  # "file" or "report"
    *FILE_FIELDS,
    ("report", pa.string()),  # JSON: repair rows, unknown labels, problems, counts
])


def example_row(ex: Example, run_id: str, source: str) -> dict:
    return {"example_id": ex.example_id, "lang": ex.lang, "domain": ex.domain, "tokens": ex.tokens,
            "labels": ex.labels, "text": ex.text, "spans": ex.spans, "source": source, "run_id": run_id}


def _examples_for(task: dict, data_root: str | None, registry_path: str | None,
                  problems: list) -> tuple[Iterator[Example], str]:
    if task["kind"] == "corpus":
        examples = read_dataset(task["dataset"], task["split"], data_root, registry=load_registry(registry_path),
                                on_error="collect", problems=problems)
        return examples, f"{task['dataset']}/{task['split']}"
    from .sample_generator import generate_records

    records = generate_records(task["count"], seed=task["seed"], start=task["start"], defect_rate=0.0)
    examples = read_sample_records(records, dataset=task["dataset"], split="train", on_error="collect",
                                   problems=problems, source=f"generate-sample seed {task['seed']}")
    return examples, f"generate-sample:{task['seed']}:{task['start']}+{task['count']}"


def ingest_tasks(batches: Iterator[pa.RecordBatch], *, run_id: str, lake_root: str, repair: str,
                 label_level: str, ratios_json: str, max_rows_per_file: int,
                 data_root: str | None, registry_path: str | None = None) -> Iterator[pa.RecordBatch]:
    ratios = json.loads(ratios_json)
    files = TableFiles("training_examples", lake_root, run_id, max_rows_per_file)
    reports = []
    for batch in batches:
        for task in batch.to_pylist():
            problems: list = []
            report = RepairReport(repair)
            label_map = load_label_map(task["label_map"])
            unknown, written = Counter(), Counter()
            examples, source = _examples_for(task, data_root, registry_path, problems)
            for ex in repair_examples(examples, repair, report):
                if label_level != "none":
                    ex, missing = map_example(ex, label_map, label_level, strict=False)
                    unknown.update(missing)
                split = assign_split(ex.example_id, ratios) if task["resplit"] else ex.split
                files.add({"dataset": task["dataset"], "split": split}, example_row(ex, run_id, source))
                written[split] += 1
            reports.append({"dataset": task["dataset"], "split": task["split"], "source": source,
                            "repair": report.rows(), "unknown_labels": dict(unknown), "written": dict(written),
                            "problems": [str(p) for p in problems]})
    files.flush()
    rows = [dict(kind="file", **f) for f in files.files]
    rows += [dict(kind="report", report=json.dumps(r, ensure_ascii=False)) for r in reports]
    yield pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA)


# --------------------------------------------------------------------------- LLM annotation

_answered_cache: dict[tuple[str, int], frozenset] = {}


def answered_hashes(responses_uri: str) -> frozenset:
    """Hashes of requests already answered without error: read once per worker and table version."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        dt = DeltaTable(responses_uri)
    except TableNotFoundError:
        return frozenset()
    key = (responses_uri, dt.version())
    if key not in _answered_cache:
        table = pa.table(dt.to_pyarrow_table(columns=["passage_hash", "error"]))
        ok = [h for h, e in zip(table.column("passage_hash").to_pylist(), table.column("error").to_pylist())
              if e is None]
        _answered_cache.clear()
        _answered_cache[key] = frozenset(ok)
    return _answered_cache[key]


def annotate_partition(batches: Iterator[pa.RecordBatch], *, run_id: str, lake_root: str, annotation_json: str,
                       max_rows_per_file: int) -> Iterator[pa.RecordBatch]:
    """Input rows ``passage_id, text``; answers are appended to ``llm_responses``."""
    from .llm_annotate import annotate_passages, load_annotation_config

    cfg = load_annotation_config(json.loads(annotation_json))
    cache = answered_hashes(f"{lake_root.rstrip('/')}/llm_responses")
    files = TableFiles("llm_responses", lake_root, run_id, max_rows_per_file)
    stats: Counter = Counter()
    for batch in batches:
        items = [(r["passage_id"], r["text"]) for r in batch.to_pylist()]
        for response in annotate_passages(items, cfg, cache, stats=stats):
            row = response.to_dict()
            stats["responses"] += 1
            stats["errors"] += row["error"] is not None
            files.add({}, dict(row, run_id=run_id))
    files.flush()
    rows = [dict(kind="file", **f) for f in files.files]
    rows.append(dict(kind="report", report=json.dumps(dict(stats))))
    yield pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA)


def filter_partition(batches: Iterator[pa.RecordBatch], *, run_id: str, lake_root: str, filter_json: str,
                     ratios_json: str, max_rows_per_file: int) -> Iterator[pa.RecordBatch]:
    """Input rows of ``llm_responses``; writes generated_samples, training_examples, generated_quarantine."""
    from .config import from_dict
    from .generated_filters import FilterConfig, filter_responses

    cfg = from_dict(FilterConfig, json.loads(filter_json))
    ratios = json.loads(ratios_json)
    records = (r for batch in batches for r in batch.to_pylist())
    out = filter_responses(records, cfg)
    samples = TableFiles("generated_samples", lake_root, run_id, max_rows_per_file)
    examples = TableFiles("training_examples", lake_root, run_id, max_rows_per_file)
    quarantine = TableFiles("generated_quarantine", lake_root, run_id, max_rows_per_file)
    part = {"dataset": cfg.dataset}
    for s in out.samples:
        samples.add(part, dict(run_id=run_id, passage_id=s.passage_id, passage_hash=s.passage_hash,
                               passage=s.passage, type=s.type, mentions=s.mentions))
    for ex in out.examples:
        examples.add({"dataset": cfg.dataset, "split": assign_split(ex.example_id, ratios)},
                     example_row(ex, run_id, "llm_responses"))
    for q in out.quarantine:
        quarantine.add(part, dict(q, run_id=run_id))
    for writer in (samples, examples, quarantine):
        writer.flush()
    report = {"stats": dict(out.stats), "type_counts": dict(Counter(s.type for s in out.samples))}
    rows = [dict(kind="file", **f) for w in (samples, examples, quarantine) for f in w.files]
    rows.append(dict(kind="report", report=json.dumps(report, ensure_ascii=False)))
    yield pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA)


# --------------------------------------------------------------------------- augmentation

def _example_from_row(row: dict, dataset: str, split: str) -> Example:
    return Example(dataset=dataset, split=split, example_id=row["example_id"], lang=row["lang"],
                   domain=row["domain"], tokens=row["tokens"], labels=row["labels"], text=row["text"],
                   spans=row["spans"])


def mentions_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Distinct-able mention rows ``(lang, label, tokens, surface)`` of the examples."""
    from .augment import mentions_of

    out = {"lang": [], "label": [], "tokens": [], "surface": []}
    for batch in batches:
        for row in batch.to_pylist():
            for lang, label, tokens, surface in mentions_of(_example_from_row(row, row["dataset"], row["split"])):
                out["lang"].append(lang)
                out["label"].append(label)
                out["tokens"].append(list(tokens))
                out["surface"].append(surface)
    yield pa.RecordBatch.from_pydict(out, schema=MENTION_SCHEMA)


MENTION_SCHEMA = pa.schema([("lang", pa.string()), ("label", pa.string()), ("tokens", pa.list_(pa.string())),
                            ("surface", pa.string())])


def augment_partition(batches: Iterator[pa.RecordBatch], *, run_id: str, lake_root: str, augment_json: str,
                      mentions, max_rows_per_file: int) -> Iterator[pa.RecordBatch]:
    """Rows of ``training_examples``; writes ``<dataset>_aug`` examples into ``training_examples``."""
    from .augment import augment_examples, build_mention_bank, load_augment_config

    cfg = load_augment_config(json.loads(augment_json))
    bank = build_mention_bank(cfg, mentions=[(m[0], m[1], tuple(m[2]), m[3]) for m in mentions.value])
    files = TableFiles("training_examples", lake_root, run_id, max_rows_per_file)
    written: Counter = Counter()
    examples = (_example_from_row(r, r["dataset"], r["split"]) for b in batches for r in b.to_pylist())
    for ex in augment_examples(examples, cfg, bank):
        files.add({"dataset": ex.dataset, "split": ex.split}, example_row(ex, run_id, "augment"))
        written[f"{ex.dataset}/{ex.split}"] += 1
    files.flush()
    rows = [dict(kind="file", **f) for f in files.files]
    rows.append(dict(kind="report", report=json.dumps({"written": dict(written)})))
    yield pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA)


# --------------------------------------------------------------------------- evaluation

EVAL_SCHEMA = pa.schema([("doc_id", pa.string()), ("gold", pa.string()), ("pred", pa.string())])


def predict_partition(batches: Iterator[pa.RecordBatch], *, spec_json: str, collapse_groups: bool,
                      run_date: str) -> Iterator[pa.RecordBatch]:
    """Rows ``doc_id, text, spans`` -> the gold and predicted spans of each document (JSON),
    predicted by the same pipeline the extraction job runs."""
    import datetime as dt

    from .merge import collapse_labels
    from .pipeline import get_pipeline
    from .spans import Span

    pipeline = get_pipeline(spec_json)
    ref = dt.date.fromisoformat(run_date)
    seconds: dict = {}
    for batch in batches:
        rows = batch.to_pylist()
        predicted = pipeline.run([r["text"] for r in rows], [ref] * len(rows), seconds)
        out = {"doc_id": [], "gold": [], "pred": []}
        for row, spans in zip(rows, predicted):
            gold = [Span(g["start"], g["end"], g["label"]) for g in row["spans"]]
            if collapse_groups:
                gold, spans = collapse_labels(gold), collapse_labels(spans)
            out["doc_id"].append(row["doc_id"])
            out["gold"].append(json.dumps([[s.start, s.end, s.label] for s in gold]))
            out["pred"].append(json.dumps([[s.start, s.end, s.label] for s in spans]))
        yield pa.RecordBatch.from_pydict(out, schema=EVAL_SCHEMA)


# --------------------------------------------------------------------------- training shards

SHARD_FILES_SCHEMA = pa.schema([("path", pa.string()), ("rows", pa.int64()), ("encoding", pa.string())])


def shard_partition(batches: Iterator[pa.RecordBatch], *, tokenizer_dir: str, labels: list[str], out_dir: str,
                    max_length: int, stride: int, relabel_json: str = "{}") -> Iterator[pa.RecordBatch]:
    """Rows of ``training_examples`` -> one Parquet shard of tokenised, label-aligned windows.

    ``relabel_json``: {dataset: {label: trained label or null}} (``schedule.relabel_tables``),
    applied by the rows' ``dataset`` column. Rows without ``spans`` (plain text, for masked-LM
    pretraining) give windows labelled all O.
    """
    import uuid
    from pathlib import Path

    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    from .labels import bio_labels
    from .model_dir import TOKENIZER_FILE
    from .modeling import encode_examples
    from .schedule import relabel_spans
    from .shards import shard_table

    relabel = json.loads(relabel_json)
    examples = [(r["text"], relabel_spans(r.get("spans") or [], relabel.get(r.get("dataset"))))
                for b in batches for r in b.to_pylist()]
    if not examples:
        return
    tokenizer = Tokenizer.from_file(str(Path(tokenizer_dir) / TOKENIZER_FILE))
    features, stats = encode_examples(tokenizer, examples, bio_labels(labels), max_length, stride)
    path = Path(out_dir) / f"part-{uuid.uuid4().hex}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(shard_table(features), path)
    yield pa.RecordBatch.from_pylist([{"path": str(path), "rows": len(features),
                                       "encoding": json.dumps(stats.as_dict())}], schema=SHARD_FILES_SCHEMA)
