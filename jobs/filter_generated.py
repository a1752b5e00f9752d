"""Filter the LLM's answers into training data: one-type samples and BIO examples.

    nerlake filter-generated [--set generated.dataset=llm_vi] [--set generated.target_language=vi]

Reads ``llm_responses``; parses each answer (malformed JSON goes to ``generated_quarantine``
with its reason), normalises type names, drops types in another script or unclear, drops
entities that are not in the passage, drops over-long samples, deduplicates, then writes
``generated_samples`` (passage, type, mentions), BIO examples into ``training_examples``
(split by hash) and the effect of every filter into ``data_reports``. Re-running replaces
the dataset's rows.
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/filter_generated.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.filter_generated")

import argparse
import json
import sys
import time
from collections import Counter
from functools import partial

from ..udfs.config import ConfigError, from_dict
from ..udfs.generated_filters import FilterConfig, type_summary
from ..udfs.training_glue import OUTPUT_SCHEMA, filter_partition
from . import lake
from .extract import add_config_arguments
from .runlog import JobRun, job_main

JOB = "filter-generated"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake filter-generated", description=__doc__.split("\n\n")[0])
    p.add_argument("--partitions", type=int, default=4, help="Spark tasks; deduplication is per task")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


def responses_frame(spark, lake_root: str):
    from deltalake import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    dt_ = lake.open_table(lake.table_uri(lake_root, "llm_responses"))
    if dt_ is None:
        raise ConfigError(f"no llm_responses table under {lake_root}: run nerlake generate-annotations first")
    df = spark.read.parquet(*DeltaTable(lake.table_uri(lake_root, "llm_responses")).file_uris())
    # One answer per request: the newest without error, else the newest error (kept for the record).
    newest = Window.partitionBy("passage_hash").orderBy(F.col("error").isNull().desc(), F.col("created_at").desc())
    return df.withColumn("_n", F.row_number().over(newest)).filter("_n = 1").drop("_n")


def run_filter_generated(cfg, partitions: int = 4, spark=None) -> dict:
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from .spark import SparkProgress, get_spark

    fcfg = from_dict(FilterConfig, cfg.generated, prefix="generated")
    ratios = cfg.ingest.split_ratios
    spark = spark or get_spark(cfg.spark)
    with JobRun(cfg, JOB) as run:
        t0 = time.perf_counter()
        # Same chunk text -> same task, so duplicates across requests meet in one dedup set.
        df = responses_frame(spark, run.lake_root).repartition(partitions, F.sha1("chunk_text"))
        fn = partial(filter_partition, run_id=run.run_id, lake_root=run.lake_root, filter_json=json.dumps(cfg.generated),
                     ratios_json=json.dumps(ratios), max_rows_per_file=cfg.extract.max_rows_per_file)
        with SparkProgress(spark, "filter", cfg.extract.progress):
            results = [r.asDict() for r in df.mapInArrow(fn, from_arrow_schema(OUTPUT_SCHEMA)).collect()]
        stats, type_counts = Counter(), Counter()
        for r in results:
            if r["kind"] == "report":
                report = json.loads(r["report"])
                stats.update(report["stats"])
                type_counts.update(report["type_counts"])
        files = [r for r in results if r["kind"] == "file"]
        by_table = {t: [f for f in files if f["table"] == t]
                    for t in ("generated_samples", "generated_quarantine", "training_examples")}
        for table in ("generated_samples", "generated_quarantine"):
            lake.commit_partitions(run.lake_root, table, by_table[table], [{"dataset": fcfg.dataset}], job=JOB,
                                   run_id=run.run_id, version=run.version)
        lake.commit_partitions(run.lake_root, "training_examples", by_table["training_examples"],
                               [{"dataset": fcfg.dataset, "split": s} for s in ratios], job=JOB, run_id=run.run_id,
                               version=run.version)
        types = type_summary(type_counts)
        write_reports(run.lake_root, run.run_id, fcfg.dataset, stats, types)
        quarantined = sum(v for k, v in stats.items() if k.startswith("responses_quarantined."))
        run.succeeded(records_in=stats["responses_in"], records_processed=stats["responses_in"] - quarantined,
                      records_quarantined=quarantined, entities_out=stats["samples_out"],
                      stage_seconds={"wall_filter": round(time.perf_counter() - t0, 3)},
                      quarantine_by_reason={k.split(".", 1)[1]: v for k, v in stats.items()
                                            if k.startswith("responses_quarantined.")})
    summary = {"run_id": run.run_id, "dataset": fcfg.dataset, "stats": dict(sorted(stats.items())), "types": types}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return summary


def write_reports(lake_root: str, run_id: str, dataset: str, stats: Counter, types: dict) -> None:
    import pyarrow as pa

    from ..udfs.tables import SCHEMAS

    rows = [dict(run_id=run_id, job=JOB, dataset=dataset, split=None, metric=k, value=float(v))
            for k, v in sorted(stats.items())]
    rows += [dict(run_id=run_id, job=JOB, dataset=dataset, split=None, metric=f"types.{k}", value=float(v))
             for k, v in sorted(types.items()) if isinstance(v, (int, float))]
    lake.append_rows(lake.table_uri(lake_root, "data_reports"), "data_reports",
                     pa.Table.from_pylist(rows, schema=SCHEMAS["data_reports"]))


def main(argv=None) -> int:
    return job_main("nerlake filter-generated", build_parser(), argv, lambda cfg, args: run_filter_generated(cfg, args.partitions))


if __name__ == "__main__":
    sys.exit(main())
