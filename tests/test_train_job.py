"""nerlake train end to end: training_examples -> Spark-written shards -> TorchDistributor -> ONNX."""
from __future__ import annotations

from nerlake.jobs.config import load_config
from nerlake.jobs.ingest import run_ingest
from nerlake.jobs.train import build_parser, parse_weights, run_train
from nerlake.udfs.model_dir import ModelDir


def test_train_from_the_lake_through_torchdistributor_and_export(spark, tmp_path):
    cfg = load_config(overrides=[f"lake.root={tmp_path / 'lake'}", "extract.progress=false"])
    run_ingest(cfg, [], [], sample=300, sample_seed=5, spark=spark)
    args = build_parser().parse_args([
        "--dataset", "vi_generated", "--out", str(tmp_path / "run"), "--epochs", "1", "--max-steps-per-epoch", "3",
        "--batch-size", "8", "--max-length", "64", "--num-processes", "2", "--export", str(tmp_path / "model"),
        "--name", "smoke", "--version", "0.0.1"])
    result = run_train(cfg, args, spark=spark)
    assert result["epochs_run"] == 1 and result["world_size"] == 2 and result["train_windows"] > 0
    model = ModelDir.load(tmp_path / "model")
    assert set(model.entity_labels) == set(result["labels"]) and "BODY_MEASUREMENT" in model.entity_labels
    assert "CHEST" not in model.entity_labels  # fine labels train as their group


def test_dataset_weights_parse():
    assert parse_weights(["a", "b=0.25"]) == {"a": 1.0, "b": 0.25}
