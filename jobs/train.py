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

from ..udfs.config import ConfigError
from ..udfs.labels import LABELS
from ..udfs.training_glue import SHARD_FILES_SCHEMA, shard_partition
from .datasets import examples_frame, mixture
from .extract import add_config_arguments
from .runlog import JobRun, job_main

JOB = "train"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake train", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", action="append", required=True, metavar="NAME[=WEIGHT]",
                   help="training dataset in training_examples, with its mixing weight (default 1)")
    p.add_argument("--out", required=True, help="run directory: tokenizer, shards, checkpoints, best model")
    p.add_argument("--model", default="scratch:tiny", help="scratch:tiny|small|base or a local HF checkpoint dir")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--o-weight", type=float, default=1.0, help="loss weight of the O class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-processes", type=int, default=2)
    p.add_argument("--distributed", action="store_true", help="run ranks on executors (local_mode=False)")
    p.add_argument("--use-gpu", action="store_true")
    p.add_argument("--export", help="write the best checkpoint as an int8 ONNX model directory here")
    p.add_argument("--name", default="nerlake-ner")
    p.add_argument("--version", default="0.0.1")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


def parse_weights(specs: list[str]) -> dict[str, float]:
    weights = {}
    for spec in specs:
        name, _, weight = spec.partition("=")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"--dataset {spec!r}: the weight must be a number") from None
    return weights


def entity_labels(frame) -> list[str]:
    """Labels present in the data, fine labels collapsed to their group, in LABELS order."""
    from pyspark.sql import functions as F

    from ..udfs.merge import collapse_labels

    found = {r["label"] for r in frame.select(F.explode("spans.label").alias("label")).distinct().collect()}
    found = set(collapse_labels(sorted(found)))
    order = list(LABELS)
    return sorted(found, key=lambda label: (order.index(label) if label in order else len(order), label))


def write_shards(frame, out_dir: Path, tokenizer_dir: Path, labels, max_length: int) -> int:
    from pyspark.sql.pandas.types import from_arrow_schema

    fn = partial(shard_partition, tokenizer_dir=str(tokenizer_dir), labels=labels, out_dir=str(out_dir),
                 max_length=max_length, stride=32)
    rows = frame.select("text", "spans").mapInArrow(fn, from_arrow_schema(SHARD_FILES_SCHEMA)).collect()
    return sum(r["rows"] for r in rows)


def run_train(cfg, args, spark=None) -> dict:
    from pyspark.ml.torch.distributor import TorchDistributor

    from ..udfs.modeling import export_onnx, save_tokenizer, train_tokenizer
    from ..udfs.train_loop import run_with_distributor
    from .spark import get_spark

    weights = parse_weights(args.dataset)
    out = Path(args.out).resolve()
    for sub in ("shards/train", "shards/dev"):
        if any((out / sub).glob("*.parquet")):
            raise ConfigError(f"{out / sub} already holds shards: use a new --out for a new run")
    spark = spark or get_spark(cfg.spark)
    with JobRun(cfg, JOB, input_path=",".join(f"{d}={w}" for d, w in weights.items())) as run:
        t0 = time.perf_counter()
        train = mixture(spark, run.lake_root, weights, split="train", seed=args.seed).cache()
        dev = examples_frame(spark, run.lake_root, sorted(weights), "dev")
        labels = entity_labels(train)
        tokenizer_dir = out / "tokenizer"
        if args.model.startswith("scratch:"):
            tokenizer_dir.mkdir(parents=True, exist_ok=True)
            texts = [r["text"] for r in train.select("text").limit(200_000).collect()]
            save_tokenizer(train_tokenizer(texts), tokenizer_dir, args.max_length)
        else:
            tokenizer_dir = Path(args.model)
        # A shard file is never split between ranks: write several per rank.
        files = 4 * args.num_processes
        train_rows = write_shards(train.repartition(files), out / "shards" / "train", tokenizer_dir, labels,
                                  args.max_length)
        dev_rows = write_shards(dev.repartition(files), out / "shards" / "dev", tokenizer_dir, labels, args.max_length)
        train.unpersist()
        distributor = TorchDistributor(num_processes=args.num_processes, local_mode=not args.distributed,
                                       use_gpu=args.use_gpu)
        result = run_with_distributor(distributor, {
            "train_shards": [str(out / "shards" / "train")], "dev_shards": [str(out / "shards" / "dev")],
            "out_dir": str(out), "labels": labels, "model": args.model, "tokenizer_dir": str(tokenizer_dir),
            "max_length": args.max_length, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
            "max_steps_per_epoch": args.max_steps_per_epoch, "o_weight": args.o_weight, "seed": args.seed,
            "use_gpu": args.use_gpu, "name": args.name, "version": args.version})
        if args.export:
            result["export_dir"] = str(export_onnx(result["best_dir"], args.export, quantize=True))
        result.update(train_windows=train_rows, dev_windows=dev_rows, labels=labels)
        run.succeeded(records_in=train_rows + dev_rows, records_processed=train_rows + dev_rows,
                      records_quarantined=0, model_name=args.name, model_version=args.version,
                      stage_seconds={"wall_train": round(time.perf_counter() - t0, 3)})
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    return result


def main(argv=None) -> int:
    return job_main("nerlake train", build_parser(), argv, lambda cfg, args: run_train(cfg, args))


if __name__ == "__main__":
    sys.exit(main())
