"""Fine-tune a token-classification model on training_examples through TorchDistributor.

    nerlake train --dataset vi_generated --out runs/vi-domain --model scratch:small --epochs 3
    nerlake train --dataset vi_generated=1.0 --dataset wnut17=0.25 --out runs/mixed --export models/mixed

Datasets are mixed by weight (``DATASET=WEIGHT``; absolute: amounts relative to the dataset
of weight 1). Spark tokenises the train and dev splits into Parquet shards; pyspark's
TorchDistributor then runs ``udfs/train_loop.train_main`` on ``--num-processes`` ranks
(gloo on CPU, nccl with ``--use-gpu``), in local mode or, with ``--distributed``, on the
cluster's executors. ``--export DIR`` writes the best checkpoint as an int8 ONNX model
directory. Shards are read by a torch IterableDataset, not petastorm (petastorm needs
pyarrow < 15; Spark 4.2's Arrow UDFs need pyarrow >= 18).
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/train.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.train")

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

from ..udfs.config import ConfigError, from_dict, to_dict
from ..udfs.labels import LABELS
from ..udfs.schedule import Schedule, load_schedule, relabel_tables
from ..udfs.training_glue import SHARD_FILES_SCHEMA, shard_partition
from .datasets import examples_frame, mixture
from .extract import add_config_arguments
from .runlog import JobRun, job_main

JOB = "train"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake train", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", action="append", default=[], metavar="NAME[=WEIGHT]",
                   help="training dataset in training_examples, with its mixing weight (default 1); "
                        "one phase (or use --schedule)")
    p.add_argument("--schedule", help="YAML phase schedule (conf/recipes/*.yaml); see udfs/schedule.py")
    p.add_argument("--out", required=True, help="run directory: tokenizer, one folder per phase (shards, "
                                                "checkpoints, best model)")
    # None: the schedule's value (or the single phase's default); given: overrides the schedule
    p.add_argument("--model", help="scratch:tiny|small|base (default scratch:tiny), a nerlake pretrain/train "
                                   "output or a local HF checkpoint dir")
    p.add_argument("--epochs", type=int, help="epochs (default 3); with --schedule: of every phase")
    p.add_argument("--lr", type=float, help="peak learning rate (default 5e-4); with --schedule: of every phase")
    p.add_argument("--max-steps-per-epoch", type=int, help="cap (smoke runs); with --schedule: of every phase")
    p.add_argument("--batch-size", type=int, help="per rank (default 16)")
    p.add_argument("--max-length", type=int, help="tokens per window (default 128)")
    p.add_argument("--o-weight", type=float, help="loss weight of the O class (default 1)")
    p.add_argument("--vocab-size", type=int, help="scratch tokenizer vocabulary (default 8000)")
    p.add_argument("--seed", type=int)
    p.add_argument("--name", help="model name (default nerlake-ner)")
    p.add_argument("--version", help="model version (default 0.0.1)")
    p.add_argument("--num-processes", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch threads per process (default: torch's choice)")
    p.add_argument("--distributed", action="store_true", help="run ranks on executors (local_mode=False)")
    p.add_argument("--use-gpu", action="store_true")
    p.add_argument("--export", help="write the best checkpoint as an int8 ONNX model directory here")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


# flags named like the schedule's keys: top-level ones, and those applied to every phase
_TOP_LEVEL_FLAGS = ("model", "batch_size", "max_length", "o_weight", "vocab_size", "seed", "name", "version")
_PHASE_FLAGS = ("epochs", "lr", "max_steps_per_epoch")


def parse_weights(specs: list[str]) -> dict[str, float]:
    weights = {}
    for spec in specs:
        name, _, weight = spec.partition("=")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"--dataset {spec!r}: the weight must be a number") from None
    return weights


def schedule_from_args(args) -> Schedule:
    """The schedule of ``--schedule`` with the flags given on the command line applied, or
    a one-phase schedule of ``--dataset``."""
    top = {key: getattr(args, key) for key in _TOP_LEVEL_FLAGS if getattr(args, key) is not None}
    per_phase = {key: getattr(args, key) for key in _PHASE_FLAGS if getattr(args, key) is not None}
    if args.schedule:
        if args.dataset:
            raise ConfigError("give --schedule or --dataset, not both (a schedule names its datasets per phase)")
        schedule = load_schedule(args.schedule, top)
        for phase in schedule.phases:
            for key, value in per_phase.items():
                setattr(phase, key, value)
        return from_dict(Schedule, to_dict(schedule))  # the overrides are validated too
    if not args.dataset:
        raise ConfigError("give --dataset NAME[=WEIGHT] (repeatable) or --schedule FILE")
    phase = {"name": "train", "datasets": parse_weights(args.dataset), "epochs": 3, **per_phase}
    return from_dict(Schedule, {"phases": [phase], **top})


def entity_labels(frame, relabel: dict) -> list[str]:
    """Labels present in the data after the phase's relabelling, fine labels collapsed to
    their group, in LABELS order."""
    from pyspark.sql import functions as F

    from ..udfs.merge import collapse_labels

    pairs = frame.select("dataset", F.explode("spans.label").alias("label")).distinct().collect()
    found = {relabel.get(r["dataset"], {}).get(r["label"], r["label"]) for r in pairs} - {None}
    found = set(collapse_labels(sorted(found)))
    order = list(LABELS)
    return sorted(found, key=lambda label: (order.index(label) if label in order else len(order), label))


def write_shards(frame, out_dir: Path, tokenizer_dir: Path, labels, max_length: int, relabel: dict | None = None,
                 columns=("dataset", "text", "spans")) -> int:
    from pyspark.sql.pandas.types import from_arrow_schema

    fn = partial(shard_partition, tokenizer_dir=str(tokenizer_dir), labels=labels, out_dir=str(out_dir),
                 max_length=max_length, stride=32, relabel_json=json.dumps(relabel or {}))
    rows = frame.select(*columns).mapInArrow(fn, from_arrow_schema(SHARD_FILES_SCHEMA)).collect()
    return sum(r["rows"] for r in rows)


def train_scratch_tokenizer(frame, out_dir: Path, vocab_size: int, max_length: int, limit: int = 200_000) -> Path:
    """A tokenizer trained on (up to ``limit``) distinct texts of ``frame``."""
    from ..udfs.modeling import save_tokenizer, train_tokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    texts = [r["text"] for r in frame.select("text").distinct().orderBy("text").limit(limit).collect()]
    save_tokenizer(train_tokenizer(texts, vocab_size=vocab_size), out_dir, max_length)
    return out_dir


def _lineage(schedule: Schedule) -> str:
    return "; ".join(f"phase {p.name} ({p.label_level} labels): "
                     + ", ".join(f"{d}={w:g}" for d, w in sorted(p.train_datasets().items()))
                     for p in schedule.phases)


def run_train(cfg, args, spark=None) -> dict:
    from pyspark.ml.torch.distributor import TorchDistributor

    from ..udfs.corpora import load_registry
    from ..udfs.modeling import export_onnx
    from ..udfs.train_loop import run_with_distributor
    from .spark import get_spark

    schedule = schedule_from_args(args)
    out = Path(args.out).resolve()
    for phase in schedule.phases:
        for sub in ("shards/train", "shards/dev"):
            if any((out / phase.name / sub).glob("*.parquet")):
                raise ConfigError(f"{out / phase.name / sub} already holds shards: use a new --out for a new run")
    registry = load_registry(cfg.ingest.registry)
    spark = spark or get_spark(cfg.spark)
    with JobRun(cfg, JOB, input_path=_lineage(schedule)) as run:
        t0 = time.perf_counter()
        model = schedule.model
        if model.startswith("scratch:"):
            everything = examples_frame(spark, run.lake_root, schedule.all_train_datasets(), "train")
            tokenizer_dir = train_scratch_tokenizer(everything, out / "tokenizer", schedule.vocab_size,
                                                    schedule.max_length)
        else:
            tokenizer_dir = Path(model)
        phases, result, windows = [], {}, 0
        for number, phase in enumerate(schedule.phases, start=1):
            started = time.perf_counter()
            print(f"[nerlake.train] phase {number}/{len(schedule.phases)} {phase.name}: "
                  f"{', '.join(f'{d}={w:g}' for d, w in phase.train_datasets().items())}", flush=True)
            train = mixture(spark, run.lake_root, phase.train_datasets(), split="train", seed=schedule.seed,
                            mode=schedule.mixing).cache()
            dev = examples_frame(spark, run.lake_root, phase.dev_datasets(), "dev")
            relabel = relabel_tables(sorted(set(phase.train_datasets()) | set(phase.dev_datasets())),
                                     phase.label_level, phase.other, registry)
            labels = entity_labels(train, relabel)
            # A shard file is never split between ranks: write several per rank.
            files = 4 * args.num_processes
            train_rows = write_shards(train.repartition(files), out / phase.name / "shards" / "train", tokenizer_dir,
                                      labels, schedule.max_length, relabel)
            dev_rows = write_shards(dev.repartition(files), out / phase.name / "shards" / "dev", tokenizer_dir,
                                    labels, schedule.max_length, relabel)
            train.unpersist()
            distributor = TorchDistributor(num_processes=args.num_processes, local_mode=not args.distributed,
                                           use_gpu=args.use_gpu)
            card = {**schedule.card, "training_data": _lineage(schedule), "schedule": to_dict(schedule),
                    "phases": list(phases)}
            result = run_with_distributor(distributor, {
                "train_shards": [str(out / phase.name / "shards" / "train")],
                "dev_shards": [str(out / phase.name / "shards" / "dev")],
                "out_dir": str(out / phase.name), "labels": labels, "model": model,
                "tokenizer_dir": str(tokenizer_dir), "max_length": schedule.max_length, "epochs": phase.epochs,
                "batch_size": schedule.batch_size, "lr": phase.lr, "max_steps_per_epoch": phase.max_steps_per_epoch,
                "o_weight": phase.o_weight or schedule.o_weight, "seed": schedule.seed,
                "patience": schedule.patience if phase.patience is None else phase.patience,
                "warmup_fraction": schedule.warmup_fraction if phase.warmup_fraction is None
                else phase.warmup_fraction, "dropout": schedule.dropout, "num_threads": args.threads,
                "use_gpu": args.use_gpu, "name": schedule.name, "version": schedule.version,
                "languages": schedule.languages, "card": card})
            phases.append({"phase": phase.name, "datasets": phase.train_datasets(), "dev": phase.dev_datasets(),
                           "label_level": phase.label_level, "labels": labels, "train_windows": train_rows,
                           "dev_windows": dev_rows, "best_dev_f1": result["best_dev_f1"],
                           "epochs_run": result["epochs_run"], "steps": result["steps"],
                           "seconds": round(time.perf_counter() - started, 1)})
            print(f"[nerlake.train] phase {phase.name} done: best dev F1 {result['best_dev_f1']} "
                  f"after {result['epochs_run']} epoch(s), {phases[-1]['seconds']} s", flush=True)
            windows += train_rows + dev_rows
            model = tokenizer_dir = result["best_dir"]  # the next phase starts from this phase's best model
        if args.export:
            result["export_dir"] = str(export_onnx(result["best_dir"], args.export, quantize=True))
        result.update(train_windows=phases[-1]["train_windows"], dev_windows=phases[-1]["dev_windows"],
                      labels=phases[-1]["labels"], phases=phases, seconds=round(time.perf_counter() - t0, 1))
        run.succeeded(records_in=windows, records_processed=windows, records_quarantined=0,
                      model_name=schedule.name, model_version=schedule.version,
                      stage_seconds={"wall_train": round(time.perf_counter() - t0, 3)})
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    return result


def main(argv=None) -> int:
    return job_main("nerlake train", build_parser(), argv, lambda cfg, args: run_train(cfg, args))


if __name__ == "__main__":
    sys.exit(main())
