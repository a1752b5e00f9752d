"""Ingest gold NER corpora (and the sample generator's gold) into ``training_examples``.

    nerlake ingest --all                       # every corpus registered in conf/datasets.yaml
    nerlake ingest --dataset wnut17 --dataset uner_da_ddt --repair discard
    nerlake ingest --sample 20000              # the generator's gold, dataset vi_generated

Each (dataset, split) partition is replaced as a whole, so ingesting again is idempotent.
BIO errors are repaired (``ingest.repair``) and counted; labels are mapped per dataset
(``ingest.label_level``); unknown labels and unreadable lines are reported, never passed on.
Corpora without a dev split are split train/dev/test by a hash of ``example_id``.
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/ingest.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.ingest")

import argparse
import json
import logging
import sys
import time
from collections import Counter
from functools import partial

from ..udfs.config import ConfigError
from ..udfs.corpora import load_registry, shared_data_root
from ..udfs.training_glue import OUTPUT_SCHEMA, TASK_SCHEMA, ingest_tasks
from . import lake
from .config import load_config
from .extract import add_config_arguments
from .runlog import JobRun

log = logging.getLogger("nerlake.ingest")
JOB = "ingest"
SAMPLE_LABEL_MAP = "nerlake"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", action="append", default=[], help="registered dataset name (repeatable)")
    p.add_argument("--all", action="store_true", help="every dataset registered in conf/datasets.yaml")
    p.add_argument("--split", action="append", default=[], help="only these splits (default: all)")
    p.add_argument("--sample", type=int, default=0, metavar="N", help="also ingest N generated records")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--data-root", help="shared corpora folder (overrides ingest.data_root)")
    p.add_argument("--repair", choices=["begin", "discard"], help="overrides ingest.repair")
    p.add_argument("--label-level", choices=["standard", "core", "none"], help="overrides ingest.label_level")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


def plan_tasks(registry, names, splits, ratios, sample: int, sample_seed: int, cfg) -> tuple[list[dict], list[dict]]:
    """Task rows for the executors, and every partition this run replaces."""
    tasks, partitions = [], []
    for name in names:
        spec = registry[name]
        resplit = list(spec.splits) == ["train"]  # no official dev split: assign by hash
        for split in spec.splits:
            if splits and split not in splits:
                continue
            tasks.append(dict(kind="corpus", dataset=name, split=split, label_map=spec.label_map,
                              resplit=resplit, start=0, count=0, seed=0))
            targets = list(ratios) if resplit else [split]
            partitions += [{"dataset": name, "split": s} for s in targets]
    if sample:
        chunk = cfg.ingest.sample_chunk
        for start in range(0, sample, chunk):
            tasks.append(dict(kind="sample", dataset=cfg.ingest.sample_dataset, split="train",
                              label_map=SAMPLE_LABEL_MAP, resplit=True, start=start,
                              count=min(chunk, sample - start), seed=sample_seed))
        partitions += [{"dataset": cfg.ingest.sample_dataset, "split": s} for s in ratios]
    return tasks, partitions


REPAIR_METRICS = ("sentences", "tokens", "repaired_sentences", "entities_before", "entities_after",
                  "invalid_I_at_start", "invalid_I_after_O", "invalid_I_after_other_type")


def summarise(reports: list[dict]) -> tuple[dict, Counter, list[str], Counter]:
    """Add up the tasks' reports: repair metrics per (dataset, split), unknown labels, problems."""
    repair: dict[tuple[str, str], Counter] = {}
    unknown, problems, written = Counter(), [], Counter()
    for r in reports:
        for row in r["repair"]:
            repair.setdefault((row["dataset"], r["split"]), Counter()).update(
                {m: row[m] for m in REPAIR_METRICS})
        for label, n in r["unknown_labels"].items():
            unknown[(r["dataset"], label)] += n
        problems += r["problems"]
        for split, n in r["written"].items():
            written[(r["dataset"], split)] += n
    return repair, unknown, problems, written


def run_ingest(cfg, names: list[str], splits: list[str], sample: int, sample_seed: int, spark=None,
               out=sys.stdout) -> dict:
    from pyspark.sql.pandas.types import from_arrow_schema

    from .spark import SparkProgress, get_spark

    registry = load_registry(cfg.ingest.registry)
    unknown_names = [n for n in names if n not in registry]
    if unknown_names:
        raise ConfigError(f"unknown dataset {unknown_names[0]!r}; registered: {', '.join(sorted(registry))}")
    if not names and not sample:
        raise ConfigError("nothing to ingest: pass --dataset NAME, --all or --sample N")
    ratios = cfg.ingest.split_ratios
    tasks, partitions = plan_tasks(registry, names, splits, ratios, sample, sample_seed, cfg)
    data_root = str(shared_data_root(cfg.ingest.data_root)) if names else None
    spark = spark or get_spark(cfg.spark)
    with JobRun(cfg, JOB, input_path=data_root) as run:
        t0 = time.perf_counter()
        fn = partial(ingest_tasks, run_id=run.run_id, lake_root=run.lake_root, repair=cfg.ingest.repair,
                     label_level=cfg.ingest.label_level, ratios_json=json.dumps(ratios),
                     max_rows_per_file=cfg.ingest.max_rows_per_file, data_root=data_root,
                     registry_path=cfg.ingest.registry)
        df = spark.createDataFrame(tasks, schema=from_arrow_schema(TASK_SCHEMA)).repartition(len(tasks))
        with SparkProgress(spark, "ingest", cfg.extract.progress):
            results = [r.asDict() for r in df.mapInArrow(fn, from_arrow_schema(OUTPUT_SCHEMA)).collect()]
        files = [r for r in results if r["kind"] == "file"]
        reports = [json.loads(r["report"]) for r in results if r["kind"] == "report"]
        repair, unknown, problems, written = summarise(reports)
        lake.commit_partitions(run.lake_root, "training_examples", files, partitions, job=JOB, run_id=run.run_id,
                               version=run.version)
        write_reports(run.lake_root, run.run_id, repair, unknown, problems, written)
        total = sum(written.values())
        run.succeeded(records_in=total + len(problems), records_processed=total, records_quarantined=len(problems),
                      entities_out=sum(c["entities_after"] for c in repair.values()),
                      stage_seconds={"wall_ingest": round(time.perf_counter() - t0, 3)})
    print(format_report(cfg.ingest.repair, repair, unknown, problems, written), file=out, flush=True)
    return {"run_id": run.run_id, "written": {f"{d}/{s}": n for (d, s), n in sorted(written.items())},
            "unknown_labels": {f"{d}/{l}": n for (d, l), n in unknown.items()}, "problems": problems,
            "repair": {f"{d}/{s}": dict(c) for (d, s), c in sorted(repair.items())}}


def write_reports(lake_root, run_id, repair: dict, unknown: Counter, problems: list, written: Counter):
    import pyarrow as pa

    from ..udfs.tables import SCHEMAS

    rows = [dict(run_id=run_id, job=JOB, dataset=d, split=s, metric=m, value=float(c[m]))
            for (d, s), c in sorted(repair.items()) for m in REPAIR_METRICS]
    rows += [dict(run_id=run_id, job=JOB, dataset=d, split=None, metric=f"unknown_label:{label}", value=float(n))
             for (d, label), n in sorted(unknown.items())]
    rows += [dict(run_id=run_id, job=JOB, dataset=d, split=s, metric="examples_written", value=float(n))
             for (d, s), n in sorted(written.items())]
    rows.append(dict(run_id=run_id, job=JOB, dataset=None, split=None, metric="read_problems",
                     value=float(len(problems))))
    lake.append_rows(lake.table_uri(lake_root, "data_reports"), "data_reports",
                     pa.Table.from_pylist(rows, schema=SCHEMAS["data_reports"]))


def format_report(method: str, repair: dict, unknown: Counter, problems: list, written: Counter) -> str:
    head = ("dataset", "split", "sents", "tokens", "repaired", "ents_before", "ents_after", "I_at_start",
            "I_after_O", "I_after_other")
    table = [head] + [(d, s, *(f"{c[m]:,}" for m in REPAIR_METRICS)) for (d, s), c in sorted(repair.items())]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(head))]
    lines = [f"BIO repair ({method}), per dataset split as read:"]
    lines += ["  " + "  ".join(str(v).rjust(w) if i > 1 else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
              for r in table]
    lines += ["", "examples written per (dataset, split):"]
    lines += [f"  {d:24s} {s:6s} {n:8,d}" for (d, s), n in sorted(written.items())]
    if unknown:
        lines.append("unknown labels (mapped to O, counted):")
        lines += [f"  {d:24s} {label:20s} {n:6,d}" for (d, label), n in sorted(unknown.items())]
    if problems:
        lines.append(f"unreadable lines or records ({len(problems)}, left out):")
        lines += [f"  {p}" for p in problems[:20]] + ([f"  … {len(problems) - 20} more"] if len(problems) > 20 else [])
    return "\n".join(lines)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides)
    for flag, key in (("data_root", "ingest.data_root"), ("repair", "ingest.repair"),
                      ("label_level", "ingest.label_level"), ("lake", "lake.root")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={json.dumps(getattr(args, flag))}")
    try:
        cfg = load_config(args.conf, overrides, profile=args.profile)
        names = sorted(load_registry(cfg.ingest.registry)) if args.all else args.dataset
        result = run_ingest(cfg, names, args.split, args.sample, args.sample_seed)
    except ConfigError as exc:
        print(f"nerlake ingest: configuration error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"nerlake ingest: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"run_id": result["run_id"], "written": result["written"]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
