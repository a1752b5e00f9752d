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
import datetime as dt
import json
import logging
import sys
import time
import uuid
from collections import Counter
from functools import partial

from ..udfs.config import ConfigError
from ..udfs.training_glue import MENTION_SCHEMA, OUTPUT_SCHEMA, augment_partition, mentions_partition
from . import lake
from .config import load_config
from .extract import add_config_arguments

log = logging.getLogger("nerlake.augment")
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
    files = DeltaTable(uri).file_uris(partition_filters=[("dataset", "in", datasets), ("split", "in", splits)])
    if not files:
        raise ConfigError(f"training_examples has no rows for datasets {datasets} splits {splits}")
    return spark.read.option("basePath", uri).parquet(*files)


def run_augment(cfg, datasets: list[str], spark=None) -> dict:
    from pyspark.sql.pandas.types import from_arrow_schema

    from ..udfs.augment import load_augment_config
    from .spark import SparkProgress, get_spark

    acfg = load_augment_config(cfg.augment)
    started = dt.datetime.now(dt.timezone.utc)
    run_id = f"augment-{started.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    version = int(started.timestamp() * 1_000_000)
    lake_root = lake.table_uri(cfg.lake.root, "").rstrip("/")
    row = dict(run_id=run_id, job=JOB, date=started.date(), started_at=started, status="failed",
               conf_hash=cfg.conf_hash(), writer="deltalake", input_path=",".join(datasets))
    spark = spark or get_spark(cfg.spark)
    try:
        t0 = time.perf_counter()
        df = training_frame(spark, lake_root, datasets, acfg.splits)
        mentions = [tuple(r) for r in df.mapInArrow(mentions_partition, from_arrow_schema(MENTION_SCHEMA))
                    .dropDuplicates().collect()]
        mentions.sort(key=lambda m: (m[0], m[1], tuple(m[2]), m[3]))
        fn = partial(augment_partition, run_id=run_id, lake_root=lake_root, augment_json=json.dumps(cfg.augment),
                     mentions=spark.sparkContext.broadcast(mentions), max_rows_per_file=cfg.extract.max_rows_per_file)
        with SparkProgress(spark, "augment", cfg.extract.progress):
            results = [r.asDict() for r in df.mapInArrow(fn, from_arrow_schema(OUTPUT_SCHEMA)).collect()]
        written = Counter()
        for r in results:
            if r["kind"] == "report":
                written.update(json.loads(r["report"])["written"])
        files = [r for r in results if r["kind"] == "file"]
        partitions = [{"dataset": f"{d}_aug", "split": s} for d in datasets for s in acfg.splits]
        lake.commit_partitions(lake_root, "training_examples", files, partitions, job=JOB, run_id=run_id,
                               version=version)
        row.update(status="succeeded", records_in=df.count(), records_processed=sum(written.values()),
                   records_quarantined=0, entities_out=len(mentions),
                   stage_seconds={"wall_augment": round(time.perf_counter() - t0, 3)})
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        row["finished_at"] = dt.datetime.now(dt.timezone.utc)
        lake.record_run(lake_root, row)
    summary = {"run_id": run_id, "mentions": len(mentions), "written": dict(sorted(written.items()))}
    print(json.dumps(summary, ensure_ascii=False))
    return summary


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides) + ([f"lake.root={json.dumps(args.lake)}"] if args.lake else [])
    try:
        cfg = load_config(args.conf, overrides, profile=args.profile)
        run_augment(cfg, args.dataset)
    except ConfigError as exc:
        print(f"nerlake augment: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
