"""Train a small bootstrap NER model on generated records and export it to ONNX (int8).

    nerlake build-model --out models/vi-domain --records 20000 --steps 1200

This is the recipe of the packaged default model until the full training pipeline
(``nerlake train`` / ``nerlake export``) replaces it. It needs the ``train`` extra.
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/build_model.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.build_model")

import argparse
import json
import sys
import time


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake build-model", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--records", type=int, default=20_000, help="generated training records")
    p.add_argument("--preset", default="small", choices=["tiny", "small", "base"])
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--name", default="vi-domain")
    p.add_argument("--version", default="0.1.0")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ..udfs.modeling import build_model_from_examples
    except ImportError as exc:
        print(f"nerlake build-model needs the train extra (pip install 'nerlake[train]'): {exc}", file=sys.stderr)
        return 2
    from ..udfs.sample_generator import generate_records

    examples = ((r["text"], r["gold"]) for r in generate_records(args.records, seed=args.seed, defect_rate=0.0))
    t0 = time.perf_counter()
    out = build_model_from_examples(examples, args.out, preset=args.preset, steps=args.steps,
                                    batch_size=args.batch_size, max_length=args.max_length, seed=args.seed,
                                    lr=args.lr, quantize=True, name=args.name, version=args.version,
                                    num_threads=args.threads, dropout=args.dropout,
                                    training_data=f"{args.records} records from nerlake generate-sample "
                                                  f"(seed {args.seed}); synthetic, not real text")
    print(json.dumps({"model_dir": str(out), "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
