"""The nightly extraction job: records -> rules + ONNX NER + merge -> Delta tables.

    nerlake extract --date 2024-03-12 --input data/sample.parquet
    spark-submit jobs/extract.py --date 2024-03-12 --input ... (same arguments)

Writes ``entities`` and ``quarantine`` (partitioned by ``ingest_date``; a re-run replaces the
date's partition atomically) and appends one row to ``runs``. Every input record is either
processed or quarantined with a reason; the job checks ``records_in == processed + quarantined``
before it commits anything.
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/extract.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.extract")

import argparse
import datetime as dt
import json
import logging
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict
from functools import partial
from importlib import resources
from pathlib import Path

from ..udfs.config import ConfigError
from ..udfs.pipeline import PipelineSpec
from ..udfs.rules.ruleset import compiled_modules
from ..udfs.spark_glue import PASSTHROUGH, RESULT_SCHEMA, ROWS_SCHEMA, extract_partition
from ..udfs.tables import SCHEMAS, file_schema
from . import lake
from .config import JobConfig, load_config

log = logging.getLogger("nerlake.extract")
JOB = "extract"
DEFAULT_MODEL = "vi-domain"


class ExtractError(RuntimeError):
    """The run cannot go on; the message says why (recorded in ``runs.error``)."""


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf", action="append", default=[], metavar="FILE", help="YAML overlay (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one key, e.g. --set ner.batch_size=64 (repeatable)")
    parser.add_argument("--profile", default="local", help="conf overlay: local (default), cluster or none")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake extract", description=__doc__.split("\n\n")[0])
    p.add_argument("--date", required=True, help="ingest date YYYY-MM-DD: the partition this run replaces")
    p.add_argument("--input", help="records path (overrides input.path)")
    p.add_argument("--format", help="input format (overrides input.format)")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    p.add_argument("--model", help="model directory (overrides model.path)")
    add_config_arguments(p)
    return p


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text!r} is not a date in YYYY-MM-DD form") from None


def resolve_config(args) -> JobConfig:
    overrides = list(args.overrides)
    for flag, key in (("input", "input.path"), ("format", "input.format"), ("lake", "lake.root"), ("model", "model.path")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    cfg = load_config(args.conf, overrides, profile=args.profile)
    if not cfg.input.path:
        raise ConfigError("input.path is not set: pass --input PATH or set input.path in a --conf file")
    if "://" not in cfg.input.path and not Path(cfg.input.path).exists():
        raise ConfigError(f"input {cfg.input.path} does not exist")
    detect_format(cfg.input.path, cfg.input.format)  # before Spark starts
    return cfg


def packaged_models() -> dict[str, Path]:
    """The models shipped inside the package (``models/<name>``), by name."""
    root = resources.files("nerlake.models")
    return {p.name: Path(str(p)) for p in root.iterdir() if p.is_dir() and (p / "model_card.json").is_file()}


def model_by_name(lake_root: str, name: str, version: str) -> Path:
    """``name`` from the lake's models registry; if it has no such name, the packaged model
    of that name (a model a user registers under a packaged name takes over)."""
    from .export import lookup_model, registry_rows

    root = lake.table_uri(lake_root, "").rstrip("/")
    packaged = packaged_models()
    if name in packaged and not any(r["name"] == name for r in registry_rows(root)):
        shipped = json.loads((packaged[name] / "model_card.json").read_text(encoding="utf-8"))["version"]
        if version not in ("latest", shipped):
            raise ConfigError(f"model.version: the packaged {name} is version {shipped}, not {version!r}, and "
                              f"the registry under {lake_root} has no {name}")
        return packaged[name]
    try:
        return Path(lookup_model(root, name, version)["path"])
    except ConfigError as exc:
        raise ConfigError(f"{exc} (packaged models: {', '.join(sorted(packaged))})") from None


def resolve_model_dir(cfg: JobConfig) -> str | None:
    if not cfg.extract.ner:
        return None
    if cfg.model.path:
        path = Path(cfg.model.path).expanduser()
    else:
        path = model_by_name(cfg.lake.root, cfg.model.name or DEFAULT_MODEL, cfg.model.version)
    from ..udfs.model_dir import ModelDir  # validates the directory contract on the driver, before Spark

    card = ModelDir.load(path)
    window = cfg.ner.max_length or card.max_length
    if not 0 <= cfg.ner.stride < window - 2:
        raise ConfigError(f"ner.stride: {cfg.ner.stride} is not allowed; must be < ner.max_length - 2 = {window - 2}")
    return str(path.resolve())


# ---------------------------------------------------------------- input

def detect_format(path: str, configured: str) -> str:
    if configured != "auto":
        return configured
    p = Path(path)
    if (p / "_delta_log").is_dir():
        return "delta"
    suffixes = "".join(p.suffixes).lower()
    for fmt, exts in (("parquet", (".parquet", ".pq")), ("jsonl", (".jsonl", ".json", ".ndjson")), ("csv", (".csv",))):
        if suffixes.endswith(exts) or any(suffixes.endswith(e + ".gz") for e in exts):
            return fmt
    if p.is_dir() and any(p.glob("*.parquet")):
        return "parquet"
    raise ConfigError(f"cannot tell the format of {path}; set input.format (or --format) to one of "
                      "parquet, delta, jsonl, csv (a URI folder has no extension to go by)")


def read_input(spark, cfg: JobConfig, writer: str):
    path, fmt = cfg.input.path, detect_format(cfg.input.path, cfg.input.format)
    if "://" not in path and not Path(path).exists():
        raise ExtractError(f"input {path} does not exist")
    defaults = {"jsonl": {"mode": "PERMISSIVE"}, "csv": {"header": "true", "multiLine": "true", "escape": '"'}}
    reader = spark.read.options(**{**defaults.get(fmt, {}), **cfg.input.options})  # the user's options win
    if fmt == "parquet":
        return reader.parquet(path)
    if fmt == "jsonl":
        return reader.json(path)
    if fmt == "csv":
        return reader.csv(path)
    if writer == "spark-delta":
        return reader.format("delta").load(path)
    from deltalake import DeltaTable  # no delta-spark jars: read the table's current files directly

    files = DeltaTable(path).file_uris()
    if not files:
        raise ExtractError(f"input Delta table {path} has no data files")
    return reader.option("basePath", path).parquet(*files)


def validated(df, cfg: JobConfig, run_date: dt.date):
    """Select the job's columns and attach a quarantine reason (or null) to every record."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    icfg = cfg.input
    missing = [c for c in (icfg.id_column, icfg.text_column) if c not in df.columns]
    if missing:
        raise ExtractError(f"input has no column {missing[0]!r}; columns are {df.columns}. "
                           "Set input.id_column / input.text_column.")
    text_type = dict(df.dtypes)[icfg.text_column]
    if text_type != "string":
        raise ExtractError(f"input column {icfg.text_column!r} is {text_type}, expected string")
    if icfg.date_column and icfg.date_column in df.columns:
        # try_: under ANSI mode one unparseable date would fail the whole run; it falls back instead.
        ref_date = F.coalesce(F.to_date(F.try_to_timestamp(F.col(icfg.date_column).cast("string"))), F.lit(run_date))
    else:
        ref_date = F.lit(run_date)
    passthrough = [F.col(c).cast("string").alias(c) if c in df.columns and c in icfg.passthrough
                   else F.lit(None).cast("string").alias(c) for c in PASSTHROUGH]
    record_id, record_text = F.col(icfg.id_column).cast("string"), F.col(icfg.text_column)
    # JSON lines Spark could not parse (bad JSON or bytes that are not UTF-8) arrive as the raw
    # line in _corrupt_record with every other column null: keep the line, recover the id if we can.
    corrupt = F.col("_corrupt_record") if "_corrupt_record" in df.columns else F.lit(None).cast("string")
    if "_corrupt_record" in df.columns:
        id_pattern = r'"' + re.escape(icfg.id_column) + r'"\s*:\s*"?([^",}]+)'
        record_id = F.coalesce(record_id, F.nullif(F.regexp_extract(corrupt, id_pattern, 1), F.lit("")))
        record_text = F.coalesce(record_text, corrupt)
    # Bytes that are not UTF-8 stay raw inside Spark strings and would fail in the Python
    # worker: flag them here, and hand Python a valid (U+FFFD-repaired) copy for the preview.
    bad_bytes = ~F.is_valid_utf8(record_text) | ~F.is_valid_utf8(record_id)
    out = df.select(F.make_valid_utf8(record_id).alias("_id"), F.make_valid_utf8(record_text).alias("_text"),
                    corrupt.alias("_corrupt"), bad_bytes.alias("_bad_bytes"), ref_date.alias("_ref_date"),
                    *passthrough)
    # An explicit count: adaptive execution would otherwise coalesce a small day into one
    # task, leaving cores idle during the (CPU-bound) model stage. Partitioning by id also
    # serves the duplicate-id window below without another shuffle.
    partitions = cfg.extract.partitions or 2 * df.sparkSession.sparkContext.defaultParallelism
    out = out.repartition(partitions, "_id")
    text = F.col("_text")
    corrupt = F.col("_corrupt")
    own_reason = (F.when(F.col("_bad_bytes"), "undecodable")
                  .when(corrupt.isNotNull() & (F.instr(corrupt, "\ufffd") > 0), "undecodable")
                  .when(corrupt.isNotNull(), "malformed_record")
                  .when(F.col("_id").isNull(), "null_id")
                  .when(text.isNull(), "null_text")
                  .when(text.rlike(r"^\s*$"), "empty_text")
                  .when(F.length(text) > cfg.extract.max_chars, "too_long")
                  .when(F.instr(text, "\ufffd") > 0, "undecodable"))
    out = out.withColumn("_own_reason", own_reason)
    # One record per id goes on: the first valid one by text, so a re-run picks the same one
    # and a bad copy never pushes the good one out.
    first_valid = Window.partitionBy("_id").orderBy(F.col("_own_reason").isNotNull(), text.asc_nulls_last())
    reason = F.coalesce(F.col("_own_reason"), F.when(F.row_number().over(first_valid) > 1, "duplicate_id"))
    return out.withColumn("_reason", reason).drop("_corrupt", "_bad_bytes", "_own_reason")


# ---------------------------------------------------------------- run

def summarise_counts(rows) -> dict:
    totals = {"records_seen": 0, "records_processed": 0, "records_quarantined": 0}
    labels, sources, reasons, seconds = Counter(), Counter(), Counter(), Counter()
    for r in rows:
        for key in totals:
            totals[key] += r[key]
        labels.update(json.loads(r["entities_by_label"]))
        sources.update(json.loads(r["entities_by_source"]))
        reasons.update(json.loads(r["quarantine_by_reason"]))
        seconds.update(json.loads(r["stage_seconds"]))
    return {**totals, "entities_by_label": dict(labels), "entities_by_source": dict(sources),
            "quarantine_by_reason": dict(reasons), "task_seconds": dict(seconds)}


def run_with_files(spark, df, spec: PipelineSpec, cfg: JobConfig, run_id: str, date: str, lake_root: str,
                   version: int) -> tuple[dict, dict]:
    """deltalake writer: tasks write data files; the driver commits each table once."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from .spark import SparkProgress

    fn = partial(extract_partition, spec_json=spec.to_json(), run_id=run_id, ingest_date=date, lake_root=lake_root,
                 max_rows_per_file=cfg.extract.max_rows_per_file, preview_chars=cfg.extract.preview_chars, sink="files")
    with SparkProgress(spark, "extract", cfg.extract.progress):
        rows = [r.asDict() for r in df.mapInArrow(fn, from_arrow_schema(RESULT_SCHEMA)).collect()]
    counts = summarise_counts(r for r in rows if r["kind"] == "counts")
    files = [r for r in rows if r["kind"] == "file"]
    return counts, {"files": files}


def commit_files(result: dict, lake_root: str, run_id: str, date: str, version: int) -> dict:
    versions = {}
    for table in ("entities", "quarantine"):
        files = [f for f in result["files"] if f["table"] == table]
        versions[table] = lake.commit_partition(
            lake.table_uri(lake_root, table), table, files, {"ingest_date": date},
            app_id=f"nerlake.{JOB}.{table}", version=version, metadata={"run_id": run_id})
    return versions


def run_with_spark_delta(spark, df, spec: PipelineSpec, cfg: JobConfig, run_id: str, date: str, lake_root: str):
    """spark-delta writer (clusters with delta-spark): tasks return rows, Spark writes Delta."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from .spark import SparkProgress

    fn = partial(extract_partition, spec_json=spec.to_json(), run_id=run_id, ingest_date=date, lake_root=lake_root,
                 max_rows_per_file=cfg.extract.max_rows_per_file, preview_chars=cfg.extract.preview_chars, sink="rows")
    out = df.mapInArrow(fn, from_arrow_schema(ROWS_SCHEMA)).persist(StorageLevel.DISK_ONLY)
    with SparkProgress(spark, "extract", cfg.extract.progress):
        counts = summarise_counts(r.asDict() for r in out.filter(F.col("kind") == "counts").collect())
    return counts, {"frame": out}


def commit_spark_delta(result: dict, lake_root: str, date: str) -> dict:
    from pyspark.sql import functions as F

    out = result["frame"]
    for table in ("entities", "quarantine"):
        (out.filter(F.col("kind") == table).select(*file_schema(table).names)
         .withColumn("ingest_date", F.lit(date).cast("date")).select(*SCHEMAS[table].names)
         .write.format("delta").mode("overwrite").option("replaceWhere", f"ingest_date = '{date}'")
         .partitionBy("ingest_date").save(lake.table_uri(lake_root, table)))
    out.unpersist()
    return {}


def format_summary(row: dict, wall: dict, lake_root: str) -> str:
    def by(d: dict) -> str:
        return "  ".join(f"{k} {v:,}" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"

    def n(key) -> str:
        return "-" if row.get(key) is None else f"{row[key]:,}"

    total = sum(wall.values())
    rate = row["records_in"] / wall["extract"] if wall.get("extract") and row.get("records_in") else 0.0
    task = row.get("stage_seconds") or {}
    lines = [
        f"nerlake extract {row['date']}  run {row['run_id']}  {row['status'].upper()}",
        f"  records     in {n('records_in')}  processed {n('records_processed')}  "
        f"quarantined {n('records_quarantined')}",
        f"  quarantine  {by(row.get('quarantine_by_reason') or {})}",
        f"  entities    {n('entities_out')}  by source: {by(row.get('entities_by_source') or {})}",
        f"  by label    {by(row.get('entities_by_label') or {})}",
        "  seconds     " + "  ".join(f"{k} {v:.1f}" for k, v in wall.items()) + f"  total {total:.1f}",
        "  task-secs   " + "  ".join(f"{k} {task[k]:.1f}" for k in sorted(task) if not k.startswith("wall_")),
        f"  speed       {rate:,.0f} records/s (extract stage)",
        f"  model       {row['model_name']} {row['model_version']}   writer {row['writer']}   lake {lake_root}",
    ]
    if row.get("error"):
        lines.append(f"  error       {row['error']}")
    return "\n".join(lines)


def run_extract(cfg: JobConfig, date: dt.date, spark=None, summary_stream=None) -> dict:
    """Run the job; returns the ``runs`` row. Raises ExtractError after recording a failed run."""
    from .spark import get_spark

    model_dir = resolve_model_dir(cfg)
    started = dt.datetime.now(dt.timezone.utc)
    run_id = f"{date.isoformat()}-{started.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    version = int(started.timestamp() * 1_000_000)  # app-transaction version: later runs are larger
    lake_root = lake.table_uri(cfg.lake.root, "").rstrip("/")
    spec = PipelineSpec(model_dir=model_dir, ner=asdict(cfg.ner),
                        rules=asdict(cfg.rules) if cfg.extract.rules else None, merge=asdict(cfg.merge))
    model_name = model_version = None
    if model_dir:
        from ..udfs.model_dir import ModelDir

        card = ModelDir.load(model_dir)
        model_name, model_version = card.name, card.version
    spark = spark or get_spark(cfg.spark, {"spark.sql.execution.arrow.maxRecordsPerBatch": cfg.extract.arrow_batch_size})
    writer = lake.choose_writer(spark, cfg.lake.writer)
    log.info("run %s: writer %s, model %s, lake %s, rule stage %s", run_id, writer, model_dir, lake_root,
             "compiled" if compiled_modules() else "pure Python")
    row = dict(run_id=run_id, job=JOB, date=date, started_at=started, status="failed", error=None,
               conf_hash=cfg.conf_hash(), model_name=model_name, model_version=model_version,
               input_path=cfg.input.path, writer=writer, records_in=None, records_processed=None,
               records_quarantined=None, entities_out=None)
    wall: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        df = validated(read_input(spark, cfg, writer), cfg, date)
        row["records_in"] = records_in = df.count()
        wall["read"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if writer == "deltalake":
            counts, result = run_with_files(spark, df, spec, cfg, run_id, date.isoformat(), lake_root, version)
        else:
            counts, result = run_with_spark_delta(spark, df, spec, cfg, run_id, date.isoformat(), lake_root)
        wall["extract"] = time.perf_counter() - t0
        row.update(records_processed=counts["records_processed"], records_quarantined=counts["records_quarantined"],
                   entities_out=sum(counts["entities_by_label"].values()),
                   entities_by_label=counts["entities_by_label"], entities_by_source=counts["entities_by_source"],
                   quarantine_by_reason=counts["quarantine_by_reason"],
                   stage_seconds={**{k: round(v, 3) for k, v in counts["task_seconds"].items()}})
        if records_in != counts["records_processed"] + counts["records_quarantined"]:
            raise ExtractError(
                f"record accounting failed: records_in {records_in} != processed {counts['records_processed']} "
                f"+ quarantined {counts['records_quarantined']}; nothing was committed")
        t0 = time.perf_counter()
        if writer == "deltalake":
            commit_files(result, lake_root, run_id, date.isoformat(), version)
        else:
            commit_spark_delta(result, lake_root, date.isoformat())
        wall["commit"] = time.perf_counter() - t0
        row["status"] = "succeeded"
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        raise ExtractError(row["error"]) from exc
    finally:
        row["finished_at"] = dt.datetime.now(dt.timezone.utc)
        row["stage_seconds"] = {**(row.get("stage_seconds") or {}), **{f"wall_{k}": round(v, 3) for k, v in wall.items()}}
        lake.record_run(lake_root, row)
        row["_wall"] = wall
        print(format_summary(row, wall, lake_root), file=summary_stream or sys.stdout, flush=True)
    return row


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    from ..udfs.model_dir import ModelDirError
    from .spark import JavaMissingError

    try:
        date = parse_date(args.date)
        cfg = resolve_config(args)
        resolve_model_dir(cfg)  # a bad model directory stops the job before Spark starts
        run_extract(cfg, date)
    except (ConfigError, ModelDirError) as exc:
        print(f"nerlake extract: configuration error: {exc}", file=sys.stderr)
        return 2
    except JavaMissingError as exc:
        print(f"nerlake extract: {exc}", file=sys.stderr)
        return 2
    except ExtractError as exc:
        print(f"nerlake extract: run failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
