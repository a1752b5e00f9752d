"""generate-annotations -> filter-generated on a real SparkSession, against a real local LLM server."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from llm_server import start_llm_server

from nerlake.jobs.config import load_config
from nerlake.jobs.filter_generated import run_filter_generated
from nerlake.jobs.generate_annotations import run_generate_annotations
from nerlake.udfs.config import ConfigError

DATA = Path(__file__).parent / "data" / "llm"


def table(lake, name):
    return DeltaTable(str(lake / name)).to_pyarrow_table().to_pylist()


def config(lake, base_url, model="model-a", *extra):
    return load_config(overrides=[f"lake.root={lake}", "extract.progress=false",
                                  f"annotation.base_url={base_url}", f"annotation.model={model}",
                                  "annotation.max_retries=3", "annotation.backoff_base_s=0.001",
                                  "annotation.backoff_max_s=0.01", "annotation.timeout_s=5.0",
                                  "generated.max_tokens=64", "generated.dataset=llm_test", *extra])


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annotate")
    passages = [json.loads(line) for line in (DATA / "passages.jsonl").open(encoding="utf-8")]
    path = tmp / "passages.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": p["passage_id"], "text": p["text"]} for p in passages]), path)
    lake = tmp / "lake"
    base_url, server = start_llm_server(json.loads((DATA / "canned.json").read_text(encoding="utf-8")))
    try:
        first = run_generate_annotations(config(lake, base_url), str(path), spark=spark)
        calls_after_first = sum(server.calls.values())
        again = run_generate_annotations(config(lake, base_url), str(path), spark=spark)
        calls_after_again = sum(server.calls.values())
        run_generate_annotations(config(lake, base_url, "model-b"), str(path), spark=spark)
    finally:
        server.stop()
    filtered = run_filter_generated(config(lake, base_url), partitions=1, spark=spark)
    return lake, passages, first, again, calls_after_first, calls_after_again, filtered


def test_answers_are_stored_and_a_rerun_pays_only_for_failures(pipeline):
    lake, passages, first, again, calls_first, calls_again, _ = pipeline
    responses = table(lake, "llm_responses")
    assert first["passages"] == len(passages)
    ok_first = [r for r in responses if r["model"] == "model-a" and r["error"] is None]
    assert ok_first and all(r["response_text"] is not None for r in ok_first)
    # the second run asks again only for the request that failed (a permanent 400)
    assert calls_again - calls_first == 1
    assert again.get("responses", 0) == 1


def test_filters_write_samples_examples_quarantine_and_their_effect(pipeline):
    lake, *_, filtered = pipeline
    stats = filtered["stats"]
    samples = table(lake, "generated_samples")
    assert samples and all(m in s["passage"] for s in samples for m in s["mentions"])
    examples = [r for r in table(lake, "training_examples") if r["dataset"] == "llm_test"]
    assert examples and all(len(r["tokens"]) == len(r["labels"]) for r in examples)
    reasons = {r["reason"] for r in table(lake, "generated_quarantine")}
    assert {"malformed_json", "not_a_list", "missing_fields", "llm_error"} <= reasons
    reports = {r["metric"]: r["value"] for r in table(lake, "data_reports") if r["run_id"] == filtered["run_id"]}
    for metric in ("responses_quarantined.malformed_json", "annotations_dropped.type_foreign_script",
                   "annotations_dropped.type_has_digit", "annotations_dropped.hallucinated",
                   "samples_dropped.input_too_long", "samples_dropped.duplicate", "samples_out"):
        assert reports[metric] == stats[metric] > 0, metric
    assert reports["types.n_types"] == filtered["types"]["n_types"] > 0


def test_annotation_settings_are_checked_before_spark(tmp_path):
    with pytest.raises(ConfigError, match="annotation.base_urll"):
        load_config(overrides=["annotation.base_urll=http://x"])
    with pytest.raises(ConfigError, match="base_url"):
        run_generate_annotations(load_config(overrides=["annotation.model=m", "annotation.base_url=ftp://x"]),
                                 str(tmp_path / "x.txt"))
