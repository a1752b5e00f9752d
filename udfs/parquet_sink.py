"""Executor side of the Delta write: Parquet data files plus the facts the driver commits.

Each task writes its rows into files under the table root (hive-style partition folders)
and returns one small description per file. Only the driver commits, once per table per
run, so a failed or speculative task attempt leaves at most orphan files that no commit
references (``VACUUM`` removes them), never duplicate rows.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .tables import PARTITION_BY, file_schema

_STATS_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_date, pa.types.is_timestamp)


# What a task returns for each data file it wrote (see write_data_file); the driver commits these.
FILE_FIELDS = [
    ("table", pa.string()),
    ("path", pa.string()),
    ("size", pa.int64()),
    ("partition_values", pa.string()),  # JSON
    ("modification_time", pa.int64()),
    ("stats", pa.string()),  # Delta statistics JSON
    ("num_records", pa.int64()),
]


def _json_value(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def delta_stats(table: pa.Table) -> str:
    """Delta per-file statistics (numRecords, min/max, nullCount) for data skipping."""
    stats = {"numRecords": table.num_rows, "minValues": {}, "maxValues": {}, "nullCount": {}}
    for name, column in zip(table.column_names, table.columns):
        stats["nullCount"][name] = column.null_count
        if table.num_rows and any(check(column.type) for check in _STATS_TYPES) and column.null_count < len(column):
            minmax = pc.min_max(column).as_py()
            lo, hi = minmax["min"], minmax["max"]
            if pa.types.is_string(column.type):
                # Delta truncates string stats; a truncated max must stay >= every value.
                lo, hi = lo[:32], (hi[:32] + "\U0010ffff" if len(hi) > 32 else hi)
            stats["minValues"][name] = _json_value(lo)
            stats["maxValues"][name] = _json_value(hi)
    return json.dumps(stats, ensure_ascii=False)


def partition_path(partition_values: dict[str, str]) -> str:
    return "/".join(f"{k}={v}" for k, v in partition_values.items())


def write_data_file(table_root: str, table_name: str, rows: pa.Table, partition_values: dict[str, str],
                    run_id: str) -> dict:
    """Write ``rows`` (partition columns excluded) as one Parquet file; describe it for the commit."""
    expected = list(PARTITION_BY[table_name])
    if sorted(partition_values) != sorted(expected):
        raise ValueError(f"{table_name}: partition values {sorted(partition_values)} != {expected}")
    rows = rows.select(file_schema(table_name).names).cast(file_schema(table_name))
    rel_dir = partition_path({k: partition_values[k] for k in expected})
    rel_path = f"{rel_dir}/part-{run_id}-{uuid.uuid4().hex}.zstd.parquet".lstrip("/")
    fs, root = pafs.FileSystem.from_uri(table_root) if "://" in table_root else (pafs.LocalFileSystem(), os.path.abspath(table_root))
    full_path = f"{root}/{rel_path}"
    fs.create_dir(full_path.rsplit("/", 1)[0], recursive=True)
    pq.write_table(rows, full_path, filesystem=fs, compression="zstd")
    size = fs.get_file_info(full_path).size
    return {
        "table": table_name,
        "path": rel_path,
        "size": size,
        "partition_values": json.dumps(partition_values),
        "modification_time": int(time.time() * 1000),
        "stats": delta_stats(rows),
        "num_records": rows.num_rows,
    }


class TableFiles:
    """Buffers one task's rows of one table, per partition, and writes data files as they fill.

    ``lake_root=None`` keeps the finished Arrow tables in memory instead (``tables``), for
    writers that hand rows back to Spark rather than writing files themselves.
    """

    def __init__(self, table: str, lake_root: str | None, run_id: str, max_rows: int):
        self.table, self.run_id, self.max_rows = table, run_id, max_rows
        self.uri = f"{lake_root.rstrip('/')}/{table}" if lake_root else None
        self.names = file_schema(table).names
        self.partition_by = PARTITION_BY[table]
        self._buffers: dict[tuple, dict[str, list]] = {}
        self.files: list[dict] = []
        self.tables: list[tuple[dict[str, str], pa.Table]] = []

    def add(self, partition: dict[str, str], row: dict) -> None:
        key = tuple(partition[k] for k in self.partition_by)
        columns = self._buffers.get(key)
        if columns is None:
            columns = self._buffers[key] = {name: [] for name in self.names}
        for name, values in columns.items():
            values.append(row.get(name))
        if len(columns[self.names[0]]) >= self.max_rows:
            self._flush(key)

    def _flush(self, key: tuple) -> None:
        columns = self._buffers.pop(key, None)
        if not columns or not columns[self.names[0]]:
            return
        rows = pa.table(columns, schema=file_schema(self.table))
        partition = dict(zip(self.partition_by, key))
        if self.uri is None:
            self.tables.append((partition, rows))
        else:
            self.files.append(write_data_file(self.uri, self.table, rows, partition, self.run_id))

    def flush(self) -> None:
        for key in list(self._buffers):
            self._flush(key)
