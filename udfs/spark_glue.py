"""Thin Spark glue: the function the extraction job hands to ``DataFrame.mapInArrow``.

Input batches carry ``_id``, ``_text``, ``_ref_date``, ``_reason`` (the quarantine reason the
driver's validation found, or null) and the passthrough columns. Each task runs the
pipeline and yields one row of counters plus, by ``sink``:

- ``files`` (the deltalake writer): the task writes its entity and quarantine rows as
  Parquet data files into the lake and yields only small rows describing those files, so
  no entity row crosses back to the driver and the input is read exactly once;
- ``rows`` (the spark-delta writer): the task yields the entity and quarantine rows
  themselves, tagged by ``kind``, for ``DataFrame.write.format("delta")``.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from typing import Iterator

import pyarrow as pa

from .parquet_sink import FILE_FIELDS, TableFiles
from .pipeline import get_pipeline
from .tables import file_schema

RESULT_SCHEMA = pa.schema([
    ("kind", pa.string()),  # "file" or "counts"
    *FILE_FIELDS,
    ("records_seen", pa.int64()),
    ("records_processed", pa.int64()),
    ("records_quarantined", pa.int64()),
    ("entities_by_label", pa.string()),  # JSON {label: count}
    ("entities_by_source", pa.string()),  # JSON {source: count}
    ("quarantine_by_reason", pa.string()),  # JSON {reason: count}
    ("stage_seconds", pa.string()),  # JSON {stage: task-seconds}
])
PASSTHROUGH = ("lang", "domain")
# rows sink: counters, entity rows and quarantine rows in one stream, told apart by ``kind``
ROWS_SCHEMA = pa.unify_schemas([RESULT_SCHEMA, file_schema("entities"), file_schema("quarantine")])
SINKS = ("files", "rows")


def _preview(text: str | None, n: int) -> str | None:
    return None if text is None else text[:n]


def extract_partition(batches: Iterator[pa.RecordBatch], *, spec_json: str, run_id: str, ingest_date: str,
                      lake_root: str, max_rows_per_file: int, preview_chars: int,
                      sink: str = "files") -> Iterator[pa.RecordBatch]:
    if sink not in SINKS:
        raise ValueError(f"sink must be one of {SINKS}, got {sink!r}")
    pipeline = get_pipeline(spec_json)
    model_name, model_version = pipeline.model_name, pipeline.model_version
    run_date = dt.date.fromisoformat(ingest_date)
    root = lake_root if sink == "files" else None
    partition = {"ingest_date": ingest_date}
    entities = TableFiles("entities", root, run_id, max_rows_per_file)
    quarantine = TableFiles("quarantine", root, run_id, max_rows_per_file)
    labels, sources, reasons, seconds = Counter(), Counter(), Counter(), {}
    seen = processed = 0

    def quarantined(record_id, text, reason):
        quarantine.add(partition, dict(run_id=run_id, record_id=record_id, text_preview=_preview(text, preview_chars),
                                       reason=reason))
        reasons[reason] += 1

    def emit(record_id, text, spans, passthrough):
        for s in spans:
            entities.add(partition, dict(
                run_id=run_id, record_id=record_id, start=s.start, end=s.end, text=text[s.start:s.end],
                label=s.label, score=float(min(max(s.score, 0.0), 1.0)), source=s.source,
                normalized=s.normalized, model_version=model_version, model_name=model_name,
                extractor=s.rule, **passthrough))
            labels[s.label] += 1
            sources[s.source] += 1

    for batch in batches:
        cols = batch.to_pydict()
        n = batch.num_rows
        seen += n
        extra = {p: cols.get(p, [None] * n) for p in PASSTHROUGH}
        good = []
        for i in range(n):
            if cols["_reason"][i] is not None:
                quarantined(cols["_id"][i], cols["_text"][i], cols["_reason"][i])
            else:
                good.append(i)
        texts = [cols["_text"][i] for i in good]
        dates = [cols["_ref_date"][i] or run_date for i in good]
        try:
            results = list(zip(good, pipeline.run(texts, dates, seconds)))
        except Exception:
            # Isolate the record(s) that broke the batch; the rest still count as processed.
            results = []
            for i, text, ref in zip(good, texts, dates):
                try:
                    results.append((i, pipeline.run([text], [ref], seconds)[0]))
                except Exception as exc:  # noqa: BLE001 - any failure becomes a quarantine reason
                    quarantined(cols["_id"][i], text, f"processing_error: {type(exc).__name__}: {exc}"[:500])
        t0 = time.perf_counter()
        for i, spans in results:
            emit(cols["_id"][i], cols["_text"][i], spans, {p: extra[p][i] for p in PASSTHROUGH})
        processed += len(results)
        seconds["rows"] = seconds.get("rows", 0.0) + time.perf_counter() - t0

    t0 = time.perf_counter()
    entities.flush()
    quarantine.flush()
    seconds["write"] = seconds.get("write", 0.0) + time.perf_counter() - t0

    rows = [dict(kind="file", **f) for f in entities.files + quarantine.files]
    rows.append(dict(kind="counts", records_seen=seen, records_processed=processed,
                     records_quarantined=sum(reasons.values()), entities_by_label=json.dumps(labels),
                     entities_by_source=json.dumps(sources), quarantine_by_reason=json.dumps(reasons),
                     stage_seconds=json.dumps(seconds)))
    if sink == "files":
        yield pa.RecordBatch.from_pylist(rows, schema=RESULT_SCHEMA)
        return
    yield pa.RecordBatch.from_pylist(rows, schema=ROWS_SCHEMA)
    for buffer in (entities, quarantine):
        for _, table in buffer.tables:
            tagged = table.append_column("kind", pa.array([buffer.table] * table.num_rows, pa.string()))
            for batch in tagged.to_batches():
                yield _widen(batch)


def _widen(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [batch.column(name) if name in batch.schema.names else pa.nulls(batch.num_rows, field.type)
         for name, field in zip(ROWS_SCHEMA.names, ROWS_SCHEMA)], schema=ROWS_SCHEMA)
