"""Driver side of the lake: one committer per table per run.

Executors write Parquet data files (``udfs/parquet_sink.py``); this module checks them and
commits them to Delta in one transaction with delta-rs. The delta-rs commit itself checks
nothing (missing files and wrong partition values are accepted silently) and an overwrite
that races an append into the same partition keeps both sets of rows, so this module:

- verifies every file exists with the reported size and partition values before committing;
- records an app transaction ``(app_id, version)`` with each commit and refuses to commit
  when the table already carries a newer version for that app id (a later run of the same
  job got there first: committing now would overwrite newer results with older ones).

Where delta-spark's jars are on the classpath, ``spark-delta`` writes through
``DataFrame.write.format("delta")`` instead (see ``jobs/extract.py``).
"""
from __future__ import annotations

import json
import logging
import os

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, Schema, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

from ..udfs.tables import PARTITION_BY, SCHEMAS

log = logging.getLogger(__name__)

WRITERS = ("auto", "deltalake", "spark-delta")


class LakeCommitError(RuntimeError):
    """A commit was refused: the files or the table are not what the run expected."""


def table_uri(lake_root: str, table: str) -> str:
    if "://" in lake_root:
        return f"{lake_root.rstrip('/')}/{table}"
    return os.path.join(os.path.abspath(lake_root), table)


def open_table(uri: str) -> DeltaTable | None:
    try:
        return DeltaTable(uri)
    except TableNotFoundError:
        return None


def _filesystem(uri: str):
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), uri


def verify_files(uri: str, table: str, files: list[dict], partition_values: dict[str, str]) -> None:
    """Check each written file before the (non-validating) commit references it."""
    fs, root = _filesystem(uri)
    infos = fs.get_file_info([f"{root}/{f['path']}" for f in files]) if files else []
    for f, info in zip(files, infos):
        if f["table"] != table:
            raise LakeCommitError(f"{table}: file {f['path']} was written for table {f['table']}")
        if info.type != pafs.FileType.File:
            raise LakeCommitError(f"{table}: data file {f['path']} is missing under {uri}")
        if info.size != f["size"]:
            raise LakeCommitError(f"{table}: data file {f['path']} has {info.size} bytes, task reported {f['size']}")
        if json.loads(f["partition_values"]) != partition_values:
            raise LakeCommitError(
                f"{table}: data file {f['path']} belongs to partition {f['partition_values']}, "
                f"this commit replaces {partition_values}")


def check_schema(dt: DeltaTable, table: str) -> None:
    existing = pa.schema(dt.schema().to_arrow())
    missing = [n for n in existing.names if n not in SCHEMAS[table].names]
    if missing:
        raise LakeCommitError(f"{table}: the table has columns this version does not write: {missing}")


def commit_partition(uri: str, table: str, files: list[dict], partition_values: dict[str, str], *,
                     app_id: str, version: int, metadata: dict | None = None) -> int:
    """Atomically replace one partition of ``table`` with ``files``; return the new table version.

    An empty ``files`` list still replaces the partition (with nothing), so a re-run whose
    records all went to quarantine leaves no stale rows behind.
    """
    if sorted(partition_values) != sorted(PARTITION_BY[table]):
        raise LakeCommitError(f"{table}: partition {partition_values} does not match {PARTITION_BY[table]}")
    verify_files(uri, table, files, partition_values)
    actions = [AddAction(f["path"], f["size"], json.loads(f["partition_values"]), f["modification_time"], True,
                         f["stats"]) for f in files]
    props = CommitProperties(app_transactions=[Transaction(app_id, version)],
                             custom_metadata={k: str(v) for k, v in (metadata or {}).items()})
    dt = open_table(uri)
    if dt is None:
        create_table_with_add_actions(uri, Schema.from_arrow(SCHEMAS[table]), actions, mode="error",
                                      partition_by=PARTITION_BY[table], commit_properties=props)
        return 0
    check_schema(dt, table)
    last = dt.transaction_version(app_id)
    if last is not None and last >= version:
        raise LakeCommitError(
            f"{table}: a newer run (version {last} >= {version}) of {app_id} already committed; "
            "refusing to overwrite its results. Run the job again to replace them.")
    dt.create_write_transaction(
        actions, mode="overwrite", schema=SCHEMAS[table], partition_by=PARTITION_BY[table],
        partition_filters=[(k, "=", v) for k, v in partition_values.items()], commit_properties=props)
    return DeltaTable(uri).version()


def append_rows(uri: str, table: str, rows: pa.Table) -> None:
    """Small driver-side appends (the ``runs`` table: one row per run)."""
    rows = rows.select(SCHEMAS[table].names).cast(SCHEMAS[table])
    write_deltalake(uri, rows, mode="append", partition_by=PARTITION_BY[table] or None)


def delta_spark_available(spark) -> bool:
    """True when delta-spark's JVM classes and session extension are present."""
    try:
        spark._jvm.java.lang.Class.forName("io.delta.tables.DeltaTable")
    except Exception:  # no JVM gateway (Spark Connect) or class missing
        return False
    return "DeltaSparkSessionExtension" in (spark.conf.get("spark.sql.extensions", "") or "")


def choose_writer(spark, configured: str) -> str:
    if configured not in WRITERS:
        raise ValueError(f"lake.writer must be one of {WRITERS}, got {configured!r}")
    if configured == "auto":
        return "spark-delta" if delta_spark_available(spark) else "deltalake"
    if configured == "spark-delta" and not delta_spark_available(spark):
        from ..udfs.config import ConfigError

        raise ConfigError("lake.writer: 'spark-delta' needs delta-spark's jars and session extension, which this "
                          "Spark session lacks; use lake.writer=deltalake or add io.delta:delta-spark to the cluster")
    return configured


def record_run(lake_root: str, row: dict) -> None:
    """Append one row to ``runs`` (missing columns are null)."""
    append_rows(table_uri(lake_root, "runs"), "runs", pa.Table.from_pylist([row], schema=SCHEMAS["runs"]))


def commit_partitions(lake_root: str, table: str, files: list[dict], partitions: list[dict[str, str]], *,
                      job: str, run_id: str, version: int) -> dict[str, int]:
    """Replace each partition in ``partitions`` with its files (none: emptied), one commit each."""
    versions = {}
    for partition in partitions:
        mine = [f for f in files if json.loads(f["partition_values"]) == partition]
        key = ".".join(partition[k] for k in PARTITION_BY[table])
        versions[key] = commit_partition(table_uri(lake_root, table), table, mine, partition,
                                         app_id=f"nerlake.{job}.{table}.{key}", version=version,
                                         metadata={"run_id": run_id})
    return versions


def commit_append(lake_root: str, table: str, files: list[dict], *, job: str, run_id: str, version: int) -> int:
    """Add ``files`` to ``table`` (created on first use), one commit, guarded like commit_partition."""
    uri = table_uri(lake_root, table)
    for partition in {f["partition_values"] for f in files}:
        verify_files(uri, table, [f for f in files if f["partition_values"] == partition], json.loads(partition))
    actions = [AddAction(f["path"], f["size"], json.loads(f["partition_values"]), f["modification_time"], True,
                         f["stats"]) for f in files]
    app_id = f"nerlake.{job}.{table}"
    props = CommitProperties(app_transactions=[Transaction(app_id, version)], custom_metadata={"run_id": run_id})
    dt = open_table(uri)
    if dt is None:
        create_table_with_add_actions(uri, Schema.from_arrow(SCHEMAS[table]), actions, mode="error",
                                      partition_by=PARTITION_BY[table] or None, commit_properties=props)
        return 0
    check_schema(dt, table)
    # Appends of different runs never overwrite each other, so only a repeat of this very
    # commit (same version) is refused.
    if dt.transaction_version(app_id) == version:
        raise LakeCommitError(f"{table}: this run (version {version}) of {app_id} already committed")
    dt.create_write_transaction(actions, mode="append", schema=SCHEMAS[table],
                                partition_by=PARTITION_BY[table] or None, commit_properties=props)
    return DeltaTable(uri).version()
