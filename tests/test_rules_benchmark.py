"""The labelled rule benchmark: every label must keep precision >= 0.98 and recall >= 0.95.

Uses the scoring function of bench/rules_quality.py, so the suite fails when a rule regresses.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from nerlake.udfs.rules.ruleset import RuleSet, RulesConfig

BENCH = Path(__file__).resolve().parent.parent / "bench" / "rules_quality.py"
_spec = importlib.util.spec_from_file_location("rules_quality", BENCH)
rules_quality = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rules_quality)

CASES = rules_quality.load_cases()


@pytest.fixture(scope="module")
def report():
    return rules_quality.score_cases(CASES, RuleSet.from_config(RulesConfig()))


def test_benchmark_is_large_enough_and_every_file_has_hard_negatives():
    assert len(CASES) >= 300
    by_file = {}
    for case in CASES:
        by_file.setdefault(case["file"], []).append(case)
    for name, cases in by_file.items():
        negatives = [c for c in cases if not c["spans"]]
        assert len(negatives) >= 3, f"{name} needs hard negatives"


@pytest.mark.parametrize("label", ["PHONE", "EMAIL", "URL", "ID_NUMBER", "ORDER_CODE", "LICENSE_PLATE", "ORG", "LOC",
                                   "DATE", "TIME", "DURATION", "MONEY", "QUANTITY"])
def test_label_meets_target(report, label):
    metrics = report["labels"][label]
    failures = [f for f in report["failures"]
                if any(x["label"] == label for x in f["missed"] + f["spurious"])]
    detail = json.dumps(failures[:5], ensure_ascii=False, indent=1)
    assert metrics["support"] > 0
    assert metrics["precision"] >= rules_quality.MIN_PRECISION, detail
    assert metrics["recall"] >= rules_quality.MIN_RECALL, detail


def test_scoring_counts_spurious_missed_and_wrong_values():
    case = {"text": "gọi 0912345678 hoặc 0987654321", "ref_date": "2024-03-12", "labels": ["PHONE"], "file": "t", "line": 1,
            "spans": [{"start": 4, "end": 14, "label": "PHONE", "normalized": "+84000000000"},
                      {"start": 0, "end": 3, "label": "PHONE", "normalized": None}]}
    out = rules_quality.score_cases([case], RuleSet.from_config(RulesConfig(enabled=["phone"])))
    phone = out["labels"]["PHONE"]
    assert (phone["tp"], phone["fp"], phone["fn"]) == (1, 1, 1)
    assert phone["normalized_accuracy"] == 0.0
    [failure] = out["failures"]
    assert failure["spurious"][0]["surface"] == "0987654321" and failure["missed"][0]["surface"] == "gọi"
