"""Write synthetic Vietnamese records with gold entity spans (seeded, streamed to disk).

    nerlake generate-sample --records 10000 --out data/sample.parquet
"""
if __name__ == "__main__" and not __package__:  # spark-submit jobs/generate_sample.py
    from nerlake.jobs.entry import run_installed

    run_installed("nerlake.jobs.generate_sample")

import argparse
import datetime as dt
import json
import sys

from tqdm import tqdm


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerlake generate-sample", description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=10_000, help="number of records, 1k to 10M (default 10000)")
    p.add_argument("--out", required=True, help="output file (.parquet or .jsonl)")
    p.add_argument("--format", choices=["parquet", "jsonl"], help="default: from the --out extension")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base-date", default="2024-03-12", help="records are dated within days of it (YYYY-MM-DD)")
    p.add_argument("--defect-rate", type=float, default=0.002,
                   help="share of records the extraction job must quarantine (null/empty/duplicate/too long)")
    p.add_argument("--chunk-size", type=int, default=50_000, help="records held in memory at once")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ..udfs.sample_generator import write_sample

    if args.records < 1:
        print("nerlake generate-sample: --records must be >= 1", file=sys.stderr)
        return 2
    if not 0 <= args.defect_rate < 1:
        print("nerlake generate-sample: --defect-rate must be in [0, 1)", file=sys.stderr)
        return 2
    fmt = args.format or ("jsonl" if args.out.endswith((".jsonl", ".json")) else "parquet")
    with tqdm(total=args.records, unit="rec", desc="generate-sample", file=sys.stderr, mininterval=1) as bar:
        summary = write_sample(args.out, args.records, seed=args.seed, fmt=fmt, chunk_size=args.chunk_size,
                               progress=bar.update, base_date=dt.date.fromisoformat(args.base_date),
                               defect_rate=args.defect_rate)
    print(json.dumps(summary, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
