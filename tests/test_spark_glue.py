"""The executor-side function handed to mapInArrow, called directly on Arrow batches (no Spark)."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nerlake.udfs.merge import MERGE_STEPS, MergeConfig, merge_step
from nerlake.udfs.pipeline import PipelineSpec
from nerlake.udfs.spark_glue import RESULT_SCHEMA, ROWS_SCHEMA, extract_partition

INPUT = pa.schema([("_id", pa.string()), ("_text", pa.string()), ("_ref_date", pa.date32()),
                   ("_reason", pa.string()), ("lang", pa.string()), ("domain", pa.string())])
DAY = dt.date(2024, 3, 12)


def batch(rows):
    return pa.RecordBatch.from_pylist([dict(r) for r in rows], schema=INPUT)


ROWS = [
    {"_id": "a", "_text": "Gọi 0912 345 678 trước ngày 15/3/2024 nhé", "_ref_date": DAY, "_reason": None,
     "lang": "vi", "domain": "logistics"},
    {"_id": "b", "_text": "Chuyển 500k vào tài khoản Vietcombank", "_ref_date": None, "_reason": None,
     "lang": "vi", "domain": None},
    {"_id": "c", "_text": "", "_ref_date": None, "_reason": "empty_text", "lang": None, "domain": None},
]


def spec(**merge):
    return PipelineSpec(model_dir=None, rules={}, merge=asdict(MergeConfig(**merge))).to_json()


def run(batches, tmp_path, sink="files", spec_json=None):
    out = list(extract_partition(iter(batches), spec_json=spec_json or spec(), run_id="r1", ingest_date="2024-03-12",
                                 lake_root=str(tmp_path), max_rows_per_file=2, preview_chars=10, sink=sink))
    return pa.Table.from_batches(out).to_pylist()


def counts(rows):
    (c,) = [r for r in rows if r["kind"] == "counts"]
    return c


def test_files_sink_writes_data_files_and_counts_every_record(tmp_path):
    rows = run([batch(ROWS[:2]), batch(ROWS[2:])], tmp_path)
    c = counts(rows)
    assert (c["records_seen"], c["records_processed"], c["records_quarantined"]) == (3, 2, 1)
    assert json.loads(c["quarantine_by_reason"]) == {"empty_text": 1}
    labels = json.loads(c["entities_by_label"])
    assert labels["PHONE"] == 1 and labels["DATE"] == 1 and labels["MONEY"] == 1
    files = [r for r in rows if r["kind"] == "file"]
    entity_files = [f for f in files if f["table"] == "entities"]
    assert len(entity_files) >= 2  # max_rows_per_file=2 forces several files
    written = pa.concat_tables([pq.read_table(tmp_path / "entities" / f["path"]) for f in entity_files])
    assert written.num_rows == sum(labels.values()) == sum(f["num_records"] for f in entity_files)
    phone = [r for r in written.to_pylist() if r["label"] == "PHONE"][0]
    assert (phone["text"], phone["normalized"], phone["lang"], phone["domain"]) == (
        "0912 345 678", "+84912345678", "vi", "logistics")
    assert all(f["path"].startswith("ingest_date=2024-03-12/") for f in files)


def test_relative_dates_resolve_against_the_record_date_else_the_run_date(tmp_path):
    rows = [dict(ROWS[0], _id="x", _text="Hàng giao hôm qua", _ref_date=dt.date(2024, 1, 2)),
            dict(ROWS[0], _id="y", _text="Hàng giao hôm qua", _ref_date=None)]
    out = run([batch(rows)], tmp_path, sink="rows")
    got = {r["record_id"]: r["normalized"] for r in out if r["kind"] == "entities"}
    assert got == {"x": "2024-01-01", "y": "2024-03-11"}


def test_rows_sink_returns_rows_in_one_wide_schema(tmp_path):
    out = run([batch(ROWS)], tmp_path, sink="rows")
    kinds = {r["kind"] for r in out}
    assert kinds == {"counts", "entities", "quarantine"}
    assert set(out[0]) == set(ROWS_SCHEMA.names)
    (q,) = [r for r in out if r["kind"] == "quarantine"]
    assert (q["record_id"], q["reason"], q["text_preview"]) == ("c", "empty_text", "")
    assert not list(tmp_path.iterdir())  # the rows sink writes nothing itself


@pytest.fixture
def failing_step():
    @merge_step("fail_on_marker")
    def fail_on_marker(spans, ctx):
        if "BOOM" in ctx.text:
            raise RuntimeError("marker seen")
        return spans

    yield "fail_on_marker"
    MERGE_STEPS.pop("fail_on_marker")


def test_a_record_that_breaks_processing_is_quarantined_alone(tmp_path, failing_step):
    steps = [*MergeConfig().steps, failing_step]
    rows = [ROWS[0], dict(ROWS[1], _id="boom", _text="BOOM 0912 345 678"), ROWS[1]]
    out = run([batch(rows)], tmp_path, sink="rows", spec_json=spec(steps=steps))
    c = counts(out)
    assert (c["records_processed"], c["records_quarantined"]) == (2, 1)
    (q,) = [r for r in out if r["kind"] == "quarantine"]
    assert q["record_id"] == "boom" and q["reason"] == "processing_error: RuntimeError: marker seen"
    assert {r["record_id"] for r in out if r["kind"] == "entities"} == {"a", "b"}


def test_unknown_sink_is_refused(tmp_path):
    with pytest.raises(ValueError, match="sink"):
        run([batch(ROWS)], tmp_path, sink="kafka")


def test_result_schema_is_what_the_driver_reads():
    assert {"kind", "table", "path", "size", "partition_values", "stats", "records_processed",
            "records_quarantined", "entities_by_label", "entities_by_source"} <= set(RESULT_SCHEMA.names)
