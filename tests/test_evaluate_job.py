"""nerlake evaluate on a real SparkSession with the fixture's real ONNX model."""
from __future__ import annotations

import pytest
from deltalake import DeltaTable

from nerlake.jobs.config import load_config
from nerlake.jobs.evaluate import run_evaluate
from nerlake.udfs.config import ConfigError
from nerlake.udfs.metrics import ERROR_CATEGORIES
from nerlake.udfs.sample_generator import write_sample


@pytest.fixture(scope="module")
def gold_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gold") / "gold.parquet"
    write_sample(path, 80, seed=99, defect_rate=0.0)
    return path


@pytest.mark.parametrize("mode", ["model", "hybrid"])
def test_evaluate_scores_and_records_the_run(spark, test_model_dir, gold_file, tmp_path, mode):
    cfg = load_config(overrides=[f"lake.root={tmp_path}", "extract.progress=false"])
    result = run_evaluate(cfg, str(test_model_dir), None, str(gold_file), mode=mode, spark=spark)
    micro = result["micro"]
    assert result["documents"] == 80 and 0.0 < micro["f1"] <= 1.0
    assert set(result["errors"]) == set(ERROR_CATEGORIES)
    assert result["errors"]["exact"] == micro["correct"]
    gold_mentions = sum(s["support"] for s in result["per_type"].values())
    assert gold_mentions == micro["support"] == sum(result["errors"][c] for c in ERROR_CATEGORIES if c != "spurious")
    (row,) = DeltaTable(str(tmp_path / "evaluations")).to_pyarrow_table().to_pylist()
    assert (row["mode"], row["f1"], row["documents"]) == (mode, micro["f1"], 80)
    if mode == "hybrid":  # rules find the phones, dates and codes the tiny model misses
        assert result["per_type"]["PHONE"]["recall"] > 0.9


def test_missing_gold_is_a_config_error(spark, test_model_dir, tmp_path):
    cfg = load_config(overrides=[f"lake.root={tmp_path}"])
    with pytest.raises(ConfigError, match="training_examples"):
        run_evaluate(cfg, str(test_model_dir), "nope:dev", None, spark=spark)


def test_core_label_level_scores_gold_mapped_to_per_loc_org(spark, test_model_dir, tmp_path):
    from nerlake.jobs.ingest import run_ingest

    cfg = load_config(overrides=[f"lake.root={tmp_path}", "extract.progress=false"])
    run_ingest(cfg, [], [], sample=200, sample_seed=3, spark=spark)
    standard = run_evaluate(cfg, str(test_model_dir), "vi_generated", None, spark=spark)
    core = run_evaluate(cfg, str(test_model_dir), "vi_generated", None, spark=spark, label_level="core")
    with_gold = lambda r: {t for t, s in r["per_type"].items() if s["support"]}  # noqa: E731
    assert with_gold(core) == {"PER", "LOC", "ORG"} < with_gold(standard)
    assert core["label_level"] == "core" and core["documents"] == standard["documents"]
    for label in ("PER", "LOC", "ORG"):  # the core types' own gold is unchanged
        assert core["per_type"][label]["support"] == standard["per_type"][label]["support"]
    with pytest.raises(ConfigError, match="needs --gold"):
        run_evaluate(cfg, str(test_model_dir), None, "x.parquet", spark=spark, label_level="core")
