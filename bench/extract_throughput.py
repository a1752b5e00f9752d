"""Records/s of the whole extraction job vs. the bare ONNX forward pass (the ceiling).

    python bench/extract_throughput.py --records 5000 [--model DIR] [--master local[2]]

Prints one JSON object. The ceiling tokenises the same texts, sorts them by length, runs
the ONNX model in batches with no padding waste beyond the batch, using all cores in one
process and nothing else: no Spark, no rules, no merge, no writes. ``ratio`` is
job / ceiling, both measured in this run (compare ratios, not absolute numbers, on a
noisy machine).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def bare_onnx_records_per_s(model_dir: str, texts: list[str], batch_size: int, threads: int) -> dict:
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from nerlake.udfs.model_dir import ModelDir

    card = ModelDir.load(model_dir)
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(card.max_length)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(Path(model_dir) / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    encodings = sorted(tok.encode_batch(texts), key=lambda e: len(e.ids))
    start = time.perf_counter()
    for i in range(0, len(encodings), batch_size):
        chunk = encodings[i:i + batch_size]
        width = max(len(e.ids) for e in chunk)
        ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros((len(chunk), width), np.int64)
        for row, e in enumerate(chunk):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        session.run(None, feed)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "records_per_s": round(len(texts) / seconds, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=5000)
    p.add_argument("--model", default=None, help="model directory (default: the packaged model)")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)

    import pyarrow as pa
    import pyarrow.parquet as pq

    from nerlake.jobs.config import load_config
    from nerlake.jobs.extract import resolve_model_dir, run_extract
    from nerlake.udfs.sample_generator import generate_records

    records = list(generate_records(args.records, seed=args.seed, defect_rate=0.0))
    texts = [r["text"] for r in records]
    cores = int(args.master.removeprefix("local[").rstrip("]")) if args.master.startswith("local[") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.parquet"
        pq.write_table(pa.Table.from_pylist([{k: r[k] for k in ("id", "text", "created_at", "lang", "domain")}
                                             for r in records]), path)
        overrides = [f"input.path={path}", f"lake.root={tmp}/lake", "extract.progress=false",
                     f"spark.master={args.master}"]
        if args.model:
            overrides.append(f"model.path={args.model}")
        cfg = load_config(overrides=overrides)
        model_dir = resolve_model_dir(cfg)
        # Warm-up run: starts Spark and its Python workers, loads the model once per worker.
        run_extract(cfg, dt.date(2024, 3, 11), summary_stream=sys.stderr)
        row = run_extract(cfg, dt.date(2024, 3, 12), summary_stream=sys.stderr)
    wall = row["_wall"]
    job = args.records / wall["extract"]
    ceiling = bare_onnx_records_per_s(model_dir, texts, args.batch_size, threads=cores)
    print(json.dumps({
        "records": args.records,
        "master": args.master,
        "model": model_dir,
        "job_records_per_s": round(job, 1),
        "job_seconds": {k: round(v, 2) for k, v in wall.items()},
        "task_seconds": {k: round(v, 2) for k, v in (row.get("stage_seconds") or {}).items() if not k.startswith("wall_")},
        "entities": row["entities_out"],
        "onnx_ceiling_records_per_s": ceiling["records_per_s"],
        "ratio_job_to_ceiling": round(job / ceiling["records_per_s"], 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
