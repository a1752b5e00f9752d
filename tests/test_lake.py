"""The driver-side Delta commit: create, replace a partition, refuse what it must refuse."""
from __future__ import annotations

import json
import os

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from nerlake.jobs import lake
from nerlake.udfs.parquet_sink import delta_stats, write_data_file
from nerlake.udfs.tables import SCHEMAS, file_schema


def quarantine_rows(ids, run_id="r1"):
    return pa.table({"run_id": [run_id] * len(ids), "record_id": ids, "text_preview": ["x"] * len(ids),
                     "reason": ["empty_text"] * len(ids)}, schema=file_schema("quarantine"))


def write(uri, ids, date="2024-03-12", run_id="r1"):
    return write_data_file(uri, "quarantine", quarantine_rows(ids, run_id), {"ingest_date": date}, run_id)


def commit(uri, files, date="2024-03-12", version=1):
    return lake.commit_partition(uri, "quarantine", files, {"ingest_date": date}, app_id="test.quarantine",
                                 version=version)


def table_ids(uri, date=None):
    rows = DeltaTable(uri).to_pyarrow_table().to_pylist()
    return sorted(r["record_id"] for r in rows if date is None or str(r["ingest_date"]) == date)


def test_first_commit_creates_partitioned_table(tmp_path):
    uri = str(tmp_path / "quarantine")
    assert commit(uri, [write(uri, ["a", "b"]), write(uri, ["c"])]) == 0
    dt = DeltaTable(uri)
    assert dt.metadata().partition_columns == ["ingest_date"]
    assert pa.schema(dt.schema().to_arrow()).names == SCHEMAS["quarantine"].names
    assert table_ids(uri) == ["a", "b", "c"]
    assert dt.transaction_version("test.quarantine") == 1


def test_recommit_replaces_only_its_partition(tmp_path):
    uri = str(tmp_path / "quarantine")
    commit(uri, [write(uri, ["a", "b"], "2024-03-12")], "2024-03-12", version=1)
    commit(uri, [write(uri, ["z"], "2024-03-13")], "2024-03-13", version=2)
    commit(uri, [write(uri, ["c"], "2024-03-12")], "2024-03-12", version=3)
    assert table_ids(uri, "2024-03-12") == ["c"]
    assert table_ids(uri, "2024-03-13") == ["z"]


def test_empty_commit_clears_the_partition(tmp_path):
    uri = str(tmp_path / "quarantine")
    commit(uri, [write(uri, ["a"])], version=1)
    commit(uri, [], version=2)
    assert table_ids(uri) == []


def test_stale_run_is_refused(tmp_path):
    uri = str(tmp_path / "quarantine")
    commit(uri, [write(uri, ["a"])], version=5)
    with pytest.raises(lake.LakeCommitError, match="newer run"):
        commit(uri, [write(uri, ["b"])], version=4)
    assert table_ids(uri) == ["a"]


@pytest.mark.parametrize("damage, message", [
    (lambda uri, f: os.remove(os.path.join(uri, f["path"])), "missing"),
    (lambda uri, f: f.update(size=f["size"] + 1), "bytes"),
    (lambda uri, f: f.update(partition_values=json.dumps({"ingest_date": "2024-01-01"})), "belongs to partition"),
    (lambda uri, f: f.update(table="entities"), "written for table"),
])
def test_bad_file_descriptions_are_refused(tmp_path, damage, message):
    uri = str(tmp_path / "quarantine")
    commit(uri, [write(uri, ["a"])], version=1)
    f = write(uri, ["b"])
    damage(uri, f)
    with pytest.raises(lake.LakeCommitError, match=message):
        commit(uri, [f], version=2)
    assert table_ids(uri) == ["a"]


def test_wrong_partition_columns_are_refused(tmp_path):
    uri = str(tmp_path / "quarantine")
    with pytest.raises(lake.LakeCommitError, match="does not match"):
        lake.commit_partition(uri, "quarantine", [], {"day": "2024-03-12"}, app_id="x", version=1)


def test_runs_rows_append(tmp_path):
    uri = str(tmp_path / "runs")
    row = {name: None for name in SCHEMAS["runs"].names} | {"run_id": "r1", "job": "extract", "status": "succeeded",
                                                          "stage_seconds": {"ner": 1.5}}
    lake.append_rows(uri, "runs", pa.Table.from_pylist([row], schema=SCHEMAS["runs"]))
    lake.append_rows(uri, "runs", pa.Table.from_pylist([row | {"run_id": "r2"}], schema=SCHEMAS["runs"]))
    rows = DeltaTable(uri).to_pyarrow_table().to_pylist()
    assert sorted(r["run_id"] for r in rows) == ["r1", "r2"]
    assert dict(rows[0]["stage_seconds"]) == {"ner": 1.5}


def test_delta_stats_cover_min_max_and_nulls():
    rows = pa.table({"record_id": ["b", "a", None], "n": pa.array([3, 1, 2], pa.int32())})
    stats = json.loads(delta_stats(rows))
    assert stats["numRecords"] == 3
    assert stats["minValues"] == {"record_id": "a", "n": 1}
    assert stats["maxValues"] == {"record_id": "b", "n": 3}
    assert stats["nullCount"] == {"record_id": 1, "n": 0}


def test_choose_writer_rejects_unknown_writer():
    with pytest.raises(ValueError, match="lake.writer"):
        lake.choose_writer(None, "iceberg")


def test_appends_of_different_runs_never_refuse_each_other(tmp_path):
    def files(run):
        rows = pa.Table.from_pylist([{"run_id": run, "passage_hash": run}], schema=file_schema("llm_responses"))
        return [write_data_file(str(tmp_path / "llm_responses"), "llm_responses", rows, {}, run)]

    assert lake.commit_append(str(tmp_path), "llm_responses", files("late"), job="t", run_id="late", version=20) == 0
    lake.commit_append(str(tmp_path), "llm_responses", files("early"), job="t", run_id="early", version=10)
    rows = DeltaTable(str(tmp_path / "llm_responses")).to_pyarrow_table().to_pylist()
    assert sorted(r["run_id"] for r in rows) == ["early", "late"]
    with pytest.raises(lake.LakeCommitError, match="already committed"):
        lake.commit_append(str(tmp_path), "llm_responses", files("early"), job="t", run_id="early", version=10)
