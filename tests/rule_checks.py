"""Checks every rule extractor's test module runs: its benchmark file, generated records."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date

from nerlake.udfs.textnorm import make_doc


def benchmark_scores(extractor, path) -> dict[str, tuple[float, float, float]]:
    """Per label: (precision, recall, share of true positives with the gold normalized value)."""
    tp, fp, fn, same = Counter(), Counter(), Counter(), Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        ref = date.fromisoformat(case["ref_date"]) if case.get("ref_date") else None
        gold = {(s["start"], s["end"], s["label"]): s["normalized"] for s in case["spans"]}
        got = {(s.start, s.end, s.label): s.normalized
               for s in extractor.extract(make_doc(case["text"], ref)) if s.label in case["labels"]}
        for key, value in got.items():
            if key in gold:
                tp[key[2]] += 1
                same[key[2]] += value == gold[key]
            else:
                fp[key[2]] += 1
        for key in gold.keys() - got.keys():
            fn[key[2]] += 1
    return {label: (tp[label] / max(1, tp[label] + fp[label]), tp[label] / max(1, tp[label] + fn[label]),
                    same[label] / max(1, tp[label])) for label in tp | fp | fn}


def assert_benchmark_targets(extractor, path, labels) -> None:
    scores = benchmark_scores(extractor, path)
    assert set(scores) == set(labels)
    for label, (precision, recall, normalized) in scores.items():
        assert precision >= 0.98 and recall >= 0.95 and normalized >= 0.95, (label, precision, recall, normalized)


def assert_generated_records_keep_offsets(extractor, n: int = 600) -> None:
    """No exception and every span inside its text, over the project's own generated records."""
    from nerlake.udfs.sample_generator import generate_records

    for record in generate_records(n, seed=5, defect_rate=0.05):
        text = record["text"] or ""
        ref = date.fromisoformat(record["created_at"][:10]) if record.get("created_at") else None
        for span in extractor.extract(make_doc(text, ref)):
            assert 0 <= span.start < span.end <= len(text)
