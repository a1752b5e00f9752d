"""Cross-domain transfer on CrossNER: dev F1 per domain, trained on the domain's own train
split and with the other four domains mixed in, from scratch and (``--pretrain-steps``)
from an encoder masked-LM-pretrained on English text first.

    python bench/crossner_transfer.py --out /tmp/crossner [--data-root ../shared/data] \
        [--preset tiny] [--epochs 30] [--pretrain-steps 1500]

Every step is a nerlake job run in one SparkSession: ``ingest`` (the five CrossNER domains,
plus English WikiGold, BTC, WNUT-17 and SEC filings as pretraining text), ``pretrain``,
``train`` (through TorchDistributor, 2 ranks), the int8 export ``train --export`` does, and
``evaluate`` (strict entity-level F1, model mode, standard labels: the domain's own fine
types such as POLITICIAN or PROGRAMLANG) on each domain's dev split. The mixed model is
one model trained on all five train splits (each in full) and scored on each dev split.
Prints JSON. Needs ../shared/data; CrossNER's test splits are withheld, dev is reported.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

from nerlake.jobs.config import load_config
from nerlake.jobs.evaluate import run_evaluate
from nerlake.jobs.ingest import run_ingest
from nerlake.jobs.pretrain import build_parser as pretrain_parser
from nerlake.jobs.pretrain import run_pretrain
from nerlake.jobs.spark import get_spark
from nerlake.jobs.train import build_parser as train_parser
from nerlake.jobs.train import run_train

DOMAINS = ["ai", "literature", "music", "politics", "science"]
ENGLISH_TEXT = ["wikigold", "btc", "wnut17", "sec_filings"]


def train_and_score(cfg, spark, out: Path, name: str, datasets: dict[str, float], model: str, args) -> dict:
    schedule = {"name": f"crossner-{name}", "model": model, "languages": ["en"], "batch_size": args.batch_size,
                "max_length": 128, "vocab_size": args.vocab_size, "o_weight": args.o_weight, "patience": args.patience,
                "mixing": "fraction", "seed": args.seed,
                "phases": [{"name": "train", "datasets": datasets, "epochs": args.epochs, "lr": args.lr}]}
    path = out / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(schedule), encoding="utf-8")
    started = time.perf_counter()
    result = run_train(cfg, train_parser().parse_args(["--schedule", str(path), "--out", str(out / name),
                                                        "--threads", "1", "--export", str(out / f"{name}-model")]),
                       spark=spark)
    scores = {}
    for domain in DOMAINS:
        if f"crossner_{domain}" in datasets:
            report = run_evaluate(cfg, str(out / f"{name}-model"), f"crossner_{domain}:dev", None, spark=spark)
            scores[domain] = {"f1": report["micro"]["f1"], "precision": report["micro"]["precision"],
                              "recall": report["micro"]["recall"], "macro_f1": report["macro"]["f1"]}
    return {"dev": scores, "epochs_run": result["epochs_run"], "best_window_f1": result["best_dev_f1"],
            "train_windows": result["train_windows"], "seconds": round(time.perf_counter() - started, 1)}


def run_condition(cfg, spark, out: Path, model: str, args) -> dict:
    own = {}
    for domain in DOMAINS:
        own[domain] = train_and_score(cfg, spark, out, f"own-{domain}", {f"crossner_{domain}": 1.0}, model, args)
    mixed = train_and_score(cfg, spark, out, "mixed", {f"crossner_{d}": 1.0 for d in DOMAINS}, model, args)
    table = {d: {"own_train": own[d]["dev"][d]["f1"], "mixed": mixed["dev"][d]["f1"]} for d in DOMAINS}
    return {"dev_f1": table, "own_runs": own, "mixed_run": mixed}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="work folder (lake, runs, models)")
    p.add_argument("--data-root", default=None, help="shared corpora (default ../shared/data)")
    p.add_argument("--preset", default="tiny", choices=["tiny", "small"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=8, help="per rank")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--o-weight", type=float, default=0.5)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--pretrain-steps", type=int, default=0, help="0: scratch only")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    overrides = [f"lake.root={out / 'lake'}", "extract.progress=false"]
    if args.data_root:
        overrides.append(f"ingest.data_root={args.data_root}")
    cfg = load_config(overrides=overrides)
    spark = get_spark(cfg.spark)
    t0 = time.perf_counter()
    run_ingest(cfg, [f"crossner_{d}" for d in DOMAINS] + ENGLISH_TEXT, [], sample=0, sample_seed=0, spark=spark)
    report = {"preset": args.preset, "epochs": args.epochs, "batch_size_per_rank": args.batch_size, "ranks": 2,
              "lr": args.lr, "o_weight": args.o_weight, "label_level": "standard (each domain's fine types)",
              "scratch": run_condition(cfg, spark, out / "scratch", f"scratch:{args.preset}", args)}
    if args.pretrain_steps:
        started = time.perf_counter()
        datasets = [f"crossner_{d}" for d in DOMAINS] + ENGLISH_TEXT
        argv = ["--out", str(out / "pretrain"), "--preset", args.preset, "--steps", str(args.pretrain_steps),
                "--vocab-size", str(args.vocab_size), "--threads", "1", "--seed", str(args.seed)]
        for d in datasets:
            argv += ["--dataset", d]
        pretrained = run_pretrain(cfg, pretrain_parser().parse_args(argv), spark=spark)
        report["pretrain"] = {"datasets": datasets, "texts": pretrained["texts"], "steps": pretrained["steps"],
                              "final_mlm_loss": pretrained["final_mlm_loss"],
                              "seconds": round(time.perf_counter() - started, 1)}
        report["pretrained"] = run_condition(cfg, spark, out / "pretrained", pretrained["best_dir"], args)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    summary = {"scratch": report["scratch"]["dev_f1"]}
    if "pretrained" in report:
        summary["pretrained"] = report["pretrained"]["dev_f1"]
    print(json.dumps({"summary": summary, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
