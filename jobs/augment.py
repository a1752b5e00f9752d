"""Augment scarce training data: mention swap within a label, context-word synonyms.

    nerlake augment --dataset vi_generated [--set augment.copies=2]

Reads the ``train`` split of each dataset from ``training_examples`` and writes the new
examples as dataset ``<dataset>_aug`` (split ``train``), so training can run them as a
separate second phase. Mentions are swapped for others of the same label and language,
drawn from the corpus (the train split only, so dev/test names never leak) and from the
gazetteers. Deterministic: each copy is seeded from (seed, example_id, copy).
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/augment.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.augment")

import argparse
import json
import sys
import time
from collections import Counter
from functools import partial

from ..udfs.config import ConfigError
from ..udfs.training_glue import MENTION_SCHEMA, OUTPUT_SCHEMA, augment_partition, mentions_partition
from . import lake
from .extract import add_config_arguments
from .runlog import JobRun, job_main

JOB = "augment"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake augment", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", action="append", required=True, help="dataset in training_examples (repeatable)")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


def training_frame(spark, lake_root: str, datasets: list[str], splits: list[str]):
    from deltalake import DeltaTable

    uri = lake.table_uri(lake_root, "training_examples")
    dt_ = lake.open_table(uri)
    if dt_ is None:
        raise ConfigError(f"no training_examples table under {lake_root}: run nerlake ingest first")
    files = DeltaTable(uri).file_uris(file_pruning_predicate=[("dataset", "in", datasets), ("split", "in", splits)])
    if not files:
        raise ConfigError(f"training_examples has no rows for datasets {datasets} splits {splits}")
    return spark.read.option("basePath", uri).parquet(*files)


def run_augment(cfg, datasets: list[str], spark=None) -> dict:
    from pyspark.sql.pandas.types import from_arrow_schema

    from ..udfs.augment import load_augment_config
    from .spark import SparkProgress, get_spark

    acfg = load_augment_config(cfg.augment)
    spark = spark or get_spark(cfg.spark)
    with JobRun(cfg, JOB, input_path=",".join(datasets)) as run:
        t0 = time.perf_counter()
        df = training_frame(spark, run.lake_root, datasets, acfg.splits)
        mentions = [tuple(r) for r in df.mapInArrow(mentions_partition, from_arrow_schema(MENTION_SCHEMA))
                    .dropDuplicates().collect()]
        mentions.sort(key=lambda m: (m[0], m[1], tuple(m[2]), m[3]))
        fn = partial(augment_partition, run_id=run.run_id, lake_root=run.lake_root, augment_json=json.dumps(cfg.augment),
                     mentions=spark.sparkContext.broadcast(mentions), max_rows_per_file=cfg.extract.max_rows_per_file)
        with SparkProgress(spark, "augment", cfg.extract.progress):
            results = [r.asDict() for r in df.mapInArrow(fn, from_arrow_schema(OUTPUT_SCHEMA)).collect()]
        written = Counter()
        for r in results:
            if r["kind"] == "report":
                written.update(json.loads(r["report"])["written"])
        files = [r for r in results if r["kind"] == "file"]
        partitions = [{"dataset": f"{d}_aug", "split": s} for d in datasets for s in acfg.splits]
        lake.commit_partitions(run.lake_root, "training_examples", files, partitions, job=JOB, run_id=run.run_id,
                               version=run.version)
        run.succeeded(records_in=df.count(), records_processed=sum(written.values()), records_quarantined=0,
                      entities_out=len(mentions), stage_seconds={"wall_augment": round(time.perf_counter() - t0, 3)})
    summary = {"run_id": run.run_id, "mentions": len(mentions), "written": dict(sorted(written.items()))}
    print(json.dumps(summary, ensure_ascii=False))
    return summary


def main(argv=None) -> int:
    return job_main("nerlake augment", build_parser(), argv, lambda cfg, args: run_augment(cfg, args.dataset))


if __name__ == "__main__":
    sys.exit(main())
