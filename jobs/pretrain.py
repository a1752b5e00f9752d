"""Masked-LM pretraining on unlabelled text through TorchDistributor: a base model for ``nerlake train``.

    nerlake pretrain --dataset btc --dataset wikigold --text data/records.parquet --out runs/pretrain-en \
        --preset tiny --steps 2000
    nerlake train --model runs/pretrain-en/best --dataset crossner_ai --out runs/ai

Text comes from ``training_examples`` datasets (their train split: dev and test text stays
unseen), from Parquet files or folders with a ``text`` column (e.g. a day of the extraction
job's input records) and from plain-text files (one text per line). Spark trains a
tokenizer on the distinct texts, cuts them into windows written as Parquet shards, and
pyspark's TorchDistributor runs ``udfs/pretrain_loop.pretrain_main`` on each rank.
``OUT/best`` holds the encoder, its tokenizer and a card.
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/pretrain.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.pretrain")

import argparse
import json
import sys
import time
from pathlib import Path

from ..udfs.config import ConfigError
from .datasets import examples_frame
from .extract import add_config_arguments
from .runlog import JobRun, job_main
from .train import train_scratch_tokenizer, write_shards

JOB = "pretrain"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake pretrain", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", action="append", default=[], help="training_examples dataset (its train split)")
    p.add_argument("--text", action="append", default=[],
                   help="Parquet file/folder with a text column, or a .txt file (one text per line)")
    p.add_argument("--out", required=True, help="run directory: tokenizer, shards, checkpoint, best/")
    p.add_argument("--preset", default="small", choices=["tiny", "small", "base"])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32, help="per rank")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--mask-prob", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-processes", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch threads per process (default: torch's choice)")
    p.add_argument("--distributed", action="store_true", help="run ranks on executors (local_mode=False)")
    p.add_argument("--use-gpu", action="store_true")
    p.add_argument("--lake", help="lake root (overrides lake.root)")
    add_config_arguments(p)
    return p


def text_frame(spark, lake_root: str, datasets: list[str], paths: list[str]):
    """Distinct non-empty texts of the datasets' train splits and the given files."""
    from pyspark.sql import functions as F

    frames = [examples_frame(spark, lake_root, sorted(datasets), "train").select("text")] if datasets else []
    for path in paths:
        if not Path(path).exists():
            raise ConfigError(f"--text {path}: no such file or folder")
        if path.endswith((".txt", ".text")):
            frames.append(spark.read.text(path).select(F.col("value").alias("text")))
        else:
            df = spark.read.parquet(path)
            if "text" not in df.columns:
                raise ConfigError(f"--text {path}: no text column (columns: {', '.join(df.columns)})")
            frames.append(df.select(F.col("text").cast("string")))
    if not frames:
        raise ConfigError("give at least one --dataset or --text")
    texts = frames[0]
    for frame in frames[1:]:
        texts = texts.unionByName(frame)
    return texts.filter(F.length(F.trim("text")) > 0).distinct()


def run_pretrain(cfg, args, spark=None) -> dict:
    from pyspark.ml.torch.distributor import TorchDistributor

    from ..udfs.pretrain_loop import parse_pretrain_args, pretrain_main
    from ..udfs.train_loop import run_with_distributor
    from .spark import get_spark

    out = Path(args.out).resolve()
    if any((out / "shards").glob("*.parquet")):
        raise ConfigError(f"{out / 'shards'} already holds shards: use a new --out for a new run")
    spark = spark or get_spark(cfg.spark)
    sources = [f"dataset {d} (train)" for d in args.dataset] + [f"file {p}" for p in args.text]
    with JobRun(cfg, JOB, input_path=",".join(args.dataset + args.text)) as run:
        t0 = time.perf_counter()
        texts = text_frame(spark, run.lake_root, args.dataset, args.text).cache()
        count = texts.count()
        tokenizer_dir = train_scratch_tokenizer(texts, out / "tokenizer", args.vocab_size, args.max_length)
        windows = write_shards(texts.repartition(4 * args.num_processes), out / "shards", tokenizer_dir, [],
                               args.max_length, columns=("text",))
        texts.unpersist()
        distributor = TorchDistributor(num_processes=args.num_processes, local_mode=not args.distributed,
                                       use_gpu=args.use_gpu)
        result = run_with_distributor(distributor, {
            "train_shards": [str(out / "shards")], "tokenizer_dir": str(tokenizer_dir), "out_dir": str(out),
            "preset": args.preset, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
            "max_length": args.max_length, "mask_prob": args.mask_prob, "seed": args.seed,
            "num_threads": args.threads, "use_gpu": args.use_gpu,
            "card": {"texts": count, "windows": windows, "sources": sources}},
            main=pretrain_main, parse=parse_pretrain_args)
        result.update(texts=count, windows=windows, seconds=round(time.perf_counter() - t0, 1))
        run.succeeded(records_in=count, records_processed=count, records_quarantined=0,
                      stage_seconds={"wall_pretrain": round(time.perf_counter() - t0, 3)})
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    return result


def main(argv=None) -> int:
    return job_main("nerlake pretrain", build_parser(), argv, lambda cfg, args: run_pretrain(cfg, args))


if __name__ == "__main__":
    sys.exit(main())
