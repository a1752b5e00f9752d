"""The extraction job end to end on a real local SparkSession, real Delta tables, a real ONNX model."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from nerlake.jobs.config import load_config
from nerlake.jobs.extract import ExtractError, run_extract

DATE = dt.date(2024, 3, 12)
REPO = Path(__file__).resolve().parents[1]

# Records the job must quarantine, with the reason it must give.
DEFECTS = [
    ({"id": "bad-null", "text": None}, "null_text"),
    ({"id": "bad-empty", "text": ""}, "empty_text"),
    ({"id": "bad-space", "text": "  \n\t "}, "empty_text"),
    ({"id": "bad-long", "text": "Giao hàng tới Hà Nội. " * 200}, "too_long"),
    ({"id": "bad-bytes", "text": "Gọi 0912345678 \ufffd\ufffd ngay"}, "undecodable"),
    ({"id": None, "text": "Không có mã bản ghi"}, "null_id"),
]
MAX_CHARS = 2000


def read(lake: Path, table: str) -> list[dict]:
    return DeltaTable(str(lake / table)).to_pyarrow_table().to_pylist()


@pytest.fixture(scope="module")
def records(sample_records):
    rows = [{"id": r["id"], "text": r["text"], "created_at": r["created_at"], "lang": r["lang"],
             "domain": r["domain"]} for r in sample_records[:150]]
    rows.append(dict(rows[0], text="bản sao trùng mã " + rows[0]["text"]))  # a duplicate id
    rows[1] = dict(rows[1], created_at="12/03/2024 (not ISO)")  # unparseable: falls back to the run date
    rows.append(dict(rows[2], text=""))  # a bad copy must not push out the valid record with this id
    rows += [dict(d, created_at=None, lang=None, domain=None) for d, _ in DEFECTS]
    return rows


@pytest.fixture(scope="module")
def input_path(records, tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "records.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def config(input_path, lake, model_dir, *extra):
    return load_config(overrides=[f"input.path={input_path}", f"lake.root={lake}", f"model.path={model_dir}",
                                  f"extract.max_chars={MAX_CHARS}", "extract.progress=false", *extra])


@pytest.fixture(scope="module")
def two_runs(spark, input_path, test_model_dir, tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    cfg = config(input_path, lake, test_model_dir)
    first = run_extract(cfg, DATE, spark=spark)
    entities_after_first = read(lake, "entities")
    second = run_extract(cfg, DATE, spark=spark)
    return lake, first, second, entities_after_first


def without_run_id(rows):
    return sorted(json.dumps({k: v for k, v in r.items() if k != "run_id"}, sort_keys=True, default=str) for r in rows)


def test_rerun_replaces_the_date_with_identical_rows(two_runs):
    lake, first, second, entities_after_first = two_runs
    entities = read(lake, "entities")
    assert entities, "the job found no entities at all"
    assert without_run_id(entities) == without_run_id(entities_after_first)
    assert {r["run_id"] for r in entities} == {second["run_id"]}
    runs = read(lake, "runs")
    assert [r["run_id"] for r in sorted(runs, key=lambda r: r["started_at"])] == [first["run_id"], second["run_id"]]
    assert {r["status"] for r in runs} == {"succeeded"}


def test_every_record_is_accounted_for(two_runs, records):
    lake, first, _, _ = two_runs
    assert first["records_in"] == len(records)
    assert first["records_in"] == first["records_processed"] + first["records_quarantined"]
    run = [r for r in read(lake, "runs") if r["run_id"] == first["run_id"]][0]
    assert run["records_in"] == len(records) and run["entities_out"] == first["entities_out"]
    assert run["model_name"] and run["model_version"] and run["conf_hash"]
    assert {"rules", "ner", "merge", "wall_extract"} <= set(dict(run["stage_seconds"]))


def test_quarantine_gives_each_bad_record_its_reason(two_runs):
    lake, first, _, _ = two_runs
    rows = read(lake, "quarantine")
    got = Counter(r["reason"] for r in rows)
    want = Counter(reason for _, reason in DEFECTS) + Counter({"duplicate_id": 1, "empty_text": 1})
    assert got == want
    assert first["records_quarantined"] == sum(want.values())
    long_row = [r for r in rows if r["record_id"] == "bad-long"][0]
    assert len(long_row["text_preview"]) == 120
    dup = [r for r in rows if r["reason"] == "duplicate_id"][0]
    assert dup["text_preview"].startswith("bản sao")  # the first copy by text order is processed


def test_entity_rows_honour_the_contract(two_runs, records):
    lake, first, _, _ = two_runs
    texts = {}
    for r in records:  # the duplicate copy comes later and is the one quarantined
        if r["id"] and r["text"]:
            texts.setdefault(r["id"], r["text"])
    entities = read(lake, "entities")
    for e in entities:
        assert e["text"] == texts[e["record_id"]][e["start"]:e["end"]]
        assert 0 <= e["start"] < e["end"] <= len(texts[e["record_id"]])
        assert 0.0 <= e["score"] <= 1.0
        assert e["source"] in ("rule", "model", "merged")
        assert e["ingest_date"] == DATE and e["model_version"] == first["model_version"]
    sources = Counter(e["source"] for e in entities)
    assert sources["rule"] > 0 and sources["model"] > 0
    rule_phones = [e for e in entities if e["label"] == "PHONE" and e["source"] == "rule"]
    assert rule_phones and all(e["normalized"].startswith("+84") for e in rule_phones)
    assert all(e["normalized"].startswith("+") for e in entities if e["label"] == "PHONE" and e["normalized"])
    assert {e["lang"] for e in entities} <= {"vi", "en", "mixed"}


def test_other_dates_are_left_alone(spark, input_path, test_model_dir, tmp_path):
    cfg = config(input_path, tmp_path, test_model_dir)
    run_extract(cfg, DATE, spark=spark)
    run_extract(cfg, DATE + dt.timedelta(days=1), spark=spark)
    run_extract(cfg, DATE, spark=spark)
    by_date = Counter(r["ingest_date"] for r in read(tmp_path, "entities"))
    assert by_date[DATE] == by_date[DATE + dt.timedelta(days=1)] > 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "delta"])
def test_other_input_formats(spark, records, test_model_dir, tmp_path, fmt):
    rows = [r for r in records[:40] if r["id"] and r["text"]]
    table = pa.Table.from_pylist(rows)
    if fmt == "jsonl":
        path = tmp_path / "records.jsonl"
        lines = [json.dumps(r, ensure_ascii=False).encode() for r in rows]
        lines.append(b'{"id": "bad-utf8", "text": "Giao h\xe0ng \xff\xfe nhanh"}')  # not UTF-8
        lines.append(b'{"id": "bad-json", "text": "no closing brace"')
        path.write_bytes(b"\n".join(lines) + b"\n")
        expected = len(rows) + 2
    elif fmt == "csv":
        path = tmp_path / "records.csv"
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
        expected = len(rows)
    else:
        path = tmp_path / "records_delta"
        write_deltalake(str(path), table)
        expected = len(rows)
    lake = tmp_path / "lake"
    result = run_extract(config(path, lake, test_model_dir), DATE, spark=spark)
    assert result["records_in"] == expected
    assert result["records_processed"] + result["records_quarantined"] == expected
    if fmt == "jsonl":
        got = sorted((r["record_id"], r["reason"]) for r in read(lake, "quarantine"))
        assert got == [("bad-json", "malformed_record"), ("bad-utf8", "undecodable")]


def test_rules_only_run_needs_no_model(spark, input_path, tmp_path):
    cfg = load_config(overrides=[f"input.path={input_path}", f"lake.root={tmp_path}", "extract.ner=false",
                                 "extract.progress=false"])
    result = run_extract(cfg, DATE, spark=spark)
    sources = {e["source"] for e in read(tmp_path, "entities")}
    assert sources == {"rule"} and result["model_name"] is None


def test_missing_text_column_fails_and_is_recorded(spark, input_path, test_model_dir, tmp_path):
    cfg = config(input_path, tmp_path, test_model_dir, "input.text_column=body")
    with pytest.raises(ExtractError, match="no column 'body'"):
        run_extract(cfg, DATE, spark=spark)
    runs = read(tmp_path, "runs")
    assert [r["status"] for r in runs] == ["failed"] and "body" in runs[0]["error"]


def test_spark_submit_runs_the_job_file(input_path, test_model_dir, tmp_path):
    spark_submit = Path(sys.executable).with_name("spark-submit")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    proc = subprocess.run(
        [str(spark_submit), "--master", "local[1]", str(REPO / "jobs" / "extract.py"), "--date", "2024-03-12",
         "--input", str(input_path), "--lake", str(tmp_path), "--model", str(test_model_dir),
         "--set", f"extract.max_chars={MAX_CHARS}", "--set", "extract.progress=false"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SUCCEEDED" in proc.stdout
    assert read(tmp_path, "runs")[0]["records_in"] == 158


def test_spark_delta_writer_without_jars_is_a_config_error(spark):
    from nerlake.jobs.lake import choose_writer
    from nerlake.udfs.config import ConfigError

    with pytest.raises(ConfigError, match="lake.writer"):
        choose_writer(spark, "spark-delta")
    assert choose_writer(spark, "auto") == "deltalake"
