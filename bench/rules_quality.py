"""Scores the RuleSet on the labelled rule benchmark (tests/data/rules_benchmark/*.jsonl).

    python bench/rules_quality.py [--show-failures] [--check] [--dir DIR]

Prints JSON: per label precision, recall, F1, support (gold spans), normalized-value
accuracy (over exact-span matches whose gold has a normalized value) and, with
``--show-failures``, every case whose predicted spans differ from the gold ones.
``--check`` exits with status 1 when a label is under precision 0.98 or recall 0.95.

A case is scored only on its ``labels``: it lists ALL expected spans of those labels, so
every other predicted span of those labels counts against precision. A predicted span is
correct when start, end and label all equal a gold span's.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

from nerlake.udfs.rules.ruleset import RuleSet, RulesConfig
from nerlake.udfs.textnorm import make_doc

BENCHMARK_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "rules_benchmark"
MIN_PRECISION = 0.98
MIN_RECALL = 0.95


def load_cases(directory: Path = BENCHMARK_DIR) -> list[dict]:
    """All cases of all files, each with its ``file`` and 1-based ``line`` added."""
    cases = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path.name}:{number}: not JSON: {exc}") from exc
            missing = {"text", "labels", "spans"} - set(case)
            if missing:
                raise ValueError(f"{path.name}:{number}: missing keys {sorted(missing)}")
            for span in case["spans"]:
                if span["label"] not in case["labels"]:
                    raise ValueError(f"{path.name}:{number}: span label {span['label']} not in the case's labels")
                if not 0 <= span["start"] < span["end"] <= len(case["text"]):
                    raise ValueError(f"{path.name}:{number}: span offsets out of range: {span}")
            cases.append({**case, "file": path.name, "line": number})
    return cases


def score_cases(cases: list[dict], ruleset: RuleSet) -> dict:
    """Per-label metrics and the failing cases (see module docstring).

    Only labels the ruleset can produce are scored; cases left with none are skipped.
    """
    counts = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "norm_ok": 0, "norm_total": 0})
    failures, scored_cases = [], 0
    for case in cases:
        scored = set(case["labels"]) & set(ruleset.labels)
        if not scored:
            continue
        scored_cases += 1
        ref = date.fromisoformat(case["ref_date"]) if case.get("ref_date") else None
        doc = make_doc(case["text"], ref)
        predicted = {(s.start, s.end, s.label): s for s in ruleset.extract(doc) if s.label in scored}
        gold = {(g["start"], g["end"], g["label"]): g for g in case["spans"] if g["label"] in scored}
        for label in scored:
            counts[label]  # every scored label appears in the report, even without spans
        wrong_norm = []
        for key, g in gold.items():
            c = counts[key[2]]
            if key in predicted:
                c["tp"] += 1
                if g.get("normalized") is not None:
                    c["norm_total"] += 1
                    if predicted[key].normalized == g["normalized"]:
                        c["norm_ok"] += 1
                    else:
                        wrong_norm.append(key)
            else:
                c["fn"] += 1
        for key in predicted.keys() - gold.keys():
            counts[key[2]]["fp"] += 1
        if predicted.keys() != gold.keys() or wrong_norm:
            text = case["text"]
            failures.append({
                "file": case["file"], "line": case["line"], "note": case.get("note", ""), "text": text,
                "missed": [_show(text, k, gold[k].get("normalized")) for k in sorted(gold.keys() - predicted.keys())],
                "spurious": [_show(text, k, predicted[k].normalized) for k in sorted(predicted.keys() - gold.keys())],
                "wrong_normalized": [
                    {**_show(text, k, predicted[k].normalized), "expected": gold[k]["normalized"]} for k in wrong_norm
                ],
            })
    labels = {}
    for label, c in sorted(counts.items()):
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        labels[label] = {
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": tp + fn, "tp": tp, "fp": fp, "fn": fn,
            "normalized_accuracy": round(c["norm_ok"] / c["norm_total"], 4) if c["norm_total"] else None,
        }
    return {"cases": scored_cases, "labels": labels, "failures": failures}


def labels_below_target(report: dict) -> list[str]:
    return [label for label, m in report["labels"].items()
            if m["precision"] < MIN_PRECISION or m["recall"] < MIN_RECALL]


def _show(text: str, key, normalized) -> dict:
    start, end, label = key
    return {"start": start, "end": end, "label": label, "surface": text[start:end], "normalized": normalized}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=BENCHMARK_DIR, help="folder of *.jsonl benchmark files")
    parser.add_argument("--show-failures", action="store_true", help="list every failing case")
    parser.add_argument("--enabled", help="comma-separated extractor names (default: all)")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 when a label is under P {MIN_PRECISION} / R {MIN_RECALL}")
    args = parser.parse_args(argv)
    cfg = RulesConfig(enabled=args.enabled.split(",")) if args.enabled else RulesConfig()
    report = score_cases(load_cases(args.dir), RuleSet.from_config(cfg))
    below = labels_below_target(report)
    out = {"cases": report["cases"], "labels": report["labels"], "failing_cases": len(report["failures"]),
           "labels_below_target": below}
    if args.show_failures:
        out["failures"] = report["failures"]
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 1 if args.check and below else 0


if __name__ == "__main__":
    sys.exit(main())
