"""Times udfs/metrics.py against seqeval's strict IOB2 mode on random label sequences and
checks that both give the same scores.

    python bench/metrics_vs_seqeval.py [--sentences N] [--seed S]

Sentences are 5-40 tokens over PER/LOC/ORG/DATE; predictions copy the gold label 90% of
the time and otherwise pick any label, so invalid transitions occur. Prints JSON: seconds
for ``span_scores`` (scores AND error categories) and for seqeval's
``classification_report`` (scores only), sentences per second, and the largest absolute
difference over every per-type and averaged precision / recall / F1.
"""
from __future__ import annotations

import argparse
import json
import random
import time
import warnings

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from nerlake.udfs.metrics import span_scores

TYPES = ("PER", "LOC", "ORG", "DATE")
LABELS = ["O"] * 6 + [f"{p}-{t}" for t in TYPES for p in "BI"]


def random_corpus(n: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    rng = random.Random(seed)
    gold, pred = [], []
    for _ in range(n):
        g = [rng.choice(LABELS) for _ in range(rng.randint(5, 40))]
        gold.append(g)
        pred.append([label if rng.random() < 0.9 else rng.choice(LABELS) for label in g])
    return gold, pred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gold, pred = random_corpus(args.sentences, args.seed)

    started = time.perf_counter()
    report = span_scores(gold, pred)
    ours_s = time.perf_counter() - started

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True)
    seqeval_s = time.perf_counter() - started

    rows = {**report.per_type, "micro avg": report.micro, "macro avg": report.macro, "weighted avg": report.weighted}
    max_diff = max(abs(getattr(rows[name], ours) - float(expected[name][theirs]))
                   for name in rows for ours, theirs in (("precision", "precision"), ("recall", "recall"),
                                                         ("f1", "f1-score")))
    print(json.dumps({
        "sentences": args.sentences,
        "tokens": sum(map(len, gold)),
        "nerlake_s": round(ours_s, 3),
        "seqeval_s": round(seqeval_s, 3),
        "nerlake_sentences_per_s": round(args.sentences / ours_s),
        "max_abs_diff_vs_seqeval": max_diff,
        "micro_f1": report.micro.f1,
        "errors": report.errors,
    }, indent=2))


if __name__ == "__main__":
    main()
