"""Ask an LLM (OpenAI-compatible chat completions) to annotate raw passages; store the answers.

    nerlake generate-annotations --input passages.txt --set annotation.base_url=http://gw:8000/v1 \\
        --set annotation.model=qwen2.5-72b-instruct
    nerlake generate-annotations --input records.parquet      # id and text columns (input.*)

Passages are cut into chunks of whole sentences (150-256 tokens); each chunk is one request.
Answers go to ``llm_responses`` (appended). A request already answered without error
(same model, prompt, language and chunk) is never sent again, so a re-run pays only for
what failed or is new. The API key is read from the environment variable named by
``annotation.api_key_env`` (default NERLAKE_LLM_API_KEY).
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/generate_annotations.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.generate_annotations")

import argparse
import datetime as dt
import json
import logging
import sys
import time
import uuid
from collections import Counter
from functools import partial
from pathlib import Path

from ..udfs.config import ConfigError
from ..udfs.training_glue import OUTPUT_SCHEMA, annotate_partition
from . import lake
from .config import load_config
from .extract import add_config_arguments, read_input

log = logging.getLogger("nerlake.generate_annotations")
JOB = "generate-annotations"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake generate-annotations", description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="records (parquet/delta/jsonl/csv) or a .txt file of passages "
                                                  "separated by blank lines")
    p.add_argument("--limit", type=int, default=0, help="annotate at most N passages")
    p.add_argument("--partitions", type=int, default=0, help="Spark tasks (default: Spark decides)")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


def passages_frame(spark, cfg, path: str):
    from pyspark.sql import functions as F

    if path.endswith(".txt"):
        if not Path(path).exists() and "://" not in path:
            raise ConfigError(f"input {path} does not exist")
        df = spark.read.option("lineSep", "\n\n").text(path).select(F.trim("value").alias("text"))
        df = df.filter(F.length("text") > 0)
        return df.select(F.concat(F.lit(Path(path).name + ":"), F.sha1("text").substr(1, 16)).alias("passage_id"),
                         "text")
    cfg.input.path = path
    df = read_input(spark, cfg, "deltalake")
    return df.select(F.col(cfg.input.id_column).cast("string").alias("passage_id"),
                     F.col(cfg.input.text_column).alias("text"))


def run_generate_annotations(cfg, input_path: str, limit: int = 0, partitions: int = 0, spark=None) -> dict:
    from pyspark.sql.pandas.types import from_arrow_schema

    from ..udfs.llm_annotate import load_annotation_config
    from .spark import SparkProgress, get_spark

    annotation = load_annotation_config(cfg.annotation)  # validates base_url, model, ... before Spark
    started = dt.datetime.now(dt.timezone.utc)
    run_id = f"annotate-{started.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    version = int(started.timestamp() * 1_000_000)
    lake_root = lake.table_uri(cfg.lake.root, "").rstrip("/")
    row = dict(run_id=run_id, job=JOB, date=started.date(), started_at=started, status="failed",
               conf_hash=cfg.conf_hash(), model_name=annotation.model, input_path=input_path, writer="deltalake")
    spark = spark or get_spark(cfg.spark)
    try:
        t0 = time.perf_counter()
        df = passages_frame(spark, cfg, input_path)
        if limit:
            df = df.limit(limit)
        if partitions:
            df = df.repartition(partitions)
        passages = df.count()
        fn = partial(annotate_partition, run_id=run_id, lake_root=lake_root, annotation_json=json.dumps(cfg.annotation),
                     max_rows_per_file=cfg.extract.max_rows_per_file)
        with SparkProgress(spark, "annotate", cfg.extract.progress):
            results = [r.asDict() for r in df.mapInArrow(fn, from_arrow_schema(OUTPUT_SCHEMA)).collect()]
        stats = Counter()
        for r in results:
            if r["kind"] == "report":
                stats.update(json.loads(r["report"]))
        files = [r for r in results if r["kind"] == "file"]
        if files:
            lake.commit_append(lake_root, "llm_responses", files, job=JOB, run_id=run_id, version=version)
        row.update(status="succeeded", records_in=passages, records_processed=passages,
                   records_quarantined=0, entities_out=stats["responses"],
                   stage_seconds={"wall_annotate": round(time.perf_counter() - t0, 3)},
                   quarantine_by_reason={"llm_error": stats["errors"]} if stats["errors"] else {})
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        row["finished_at"] = dt.datetime.now(dt.timezone.utc)
        lake.record_run(lake_root, row)
    summary = {"run_id": run_id, "passages": passages, **{k: v for k, v in sorted(stats.items())}}
    print(json.dumps(summary, ensure_ascii=False))
    return summary


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides) + ([f"lake.root={json.dumps(args.lake)}"] if args.lake else [])
    try:
        cfg = load_config(args.conf, overrides, profile=args.profile)
        run_generate_annotations(cfg, args.input, args.limit, args.partitions)
    except ConfigError as exc:
        print(f"nerlake generate-annotations: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
