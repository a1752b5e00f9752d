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
import json
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

from ..udfs.config import ConfigError
from ..udfs.training_glue import OUTPUT_SCHEMA, annotate_partition
from . import lake
from .extract import add_config_arguments, read_input
from .runlog import JobRun, job_main

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
    spark = spark or get_spark(cfg.spark)
    with JobRun(cfg, JOB, model_name=annotation.model, input_path=input_path) as run:
        t0 = time.perf_counter()
        df = passages_frame(spark, cfg, input_path)
        if limit:
            df = df.limit(limit)
        if partitions:
            df = df.repartition(partitions)
        passages = df.count()
        fn = partial(annotate_partition, run_id=run.run_id, lake_root=run.lake_root,
                     annotation_json=json.dumps(cfg.annotation), max_rows_per_file=cfg.extract.max_rows_per_file)
        with SparkProgress(spark, "annotate", cfg.extract.progress):
            results = [r.asDict() for r in df.mapInArrow(fn, from_arrow_schema(OUTPUT_SCHEMA)).collect()]
        stats = Counter()
        for r in results:
            if r["kind"] == "report":
                stats.update(json.loads(r["report"]))
        files = [r for r in results if r["kind"] == "file"]
        if files:
            lake.commit_append(run.lake_root, "llm_responses", files, job=JOB, run_id=run.run_id, version=run.version)
        run.succeeded(records_in=passages, records_processed=passages, records_quarantined=0,
                      entities_out=stats["responses"], stage_seconds={"wall_annotate": round(time.perf_counter() - t0, 3)},
                      quarantine_by_reason={"llm_error": stats["errors"]} if stats["errors"] else {})
    summary = {"run_id": run.run_id, "passages": passages, **{k: v for k, v in sorted(stats.items())}}
    print(json.dumps(summary, ensure_ascii=False))
    return summary


def main(argv=None) -> int:
    return job_main("nerlake generate-annotations", build_parser(), argv, lambda cfg, args: run_generate_annotations(cfg, args.input, args.limit, args.partitions))


if __name__ == "__main__":
    sys.exit(main())
