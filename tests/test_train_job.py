"""nerlake train -> export -> registry -> extract, end to end on a real SparkSession."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nerlake.jobs import export as export_job
from nerlake.jobs.config import load_config
from nerlake.jobs.extract import run_extract
from nerlake.jobs.ingest import run_ingest
from nerlake.jobs.train import build_parser, parse_weights, run_train
from nerlake.udfs.config import ConfigError
from nerlake.udfs.model_dir import ModelDir


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    cfg = load_config(overrides=[f"lake.root={tmp / 'lake'}", "extract.progress=false"])
    run_ingest(cfg, [], [], sample=300, sample_seed=5, spark=spark)
    args = build_parser().parse_args([
        "--dataset", "vi_generated", "--out", str(tmp / "run"), "--epochs", "1", "--max-steps-per-epoch", "3",
        "--batch-size", "8", "--max-length", "64", "--num-processes", "2", "--export", str(tmp / "model"),
        "--name", "smoke", "--version", "0.0.1"])
    return cfg, run_train(cfg, args, spark=spark), tmp


def test_train_from_the_lake_through_torchdistributor_and_export(trained):
    cfg, result, tmp = trained
    assert result["epochs_run"] == 1 and result["world_size"] == 2 and result["train_windows"] > 0
    model = ModelDir.load(tmp / "model")
    assert set(model.entity_labels) == set(result["labels"]) and "BODY_MEASUREMENT" in model.entity_labels
    assert "CHEST" not in model.entity_labels  # fine labels train as their group


def export(cfg, checkpoint, out, version, *extra):
    args = export_job.build_parser().parse_args(["--checkpoint", str(checkpoint), "--out", str(out), "--name",
                                                 "smoke-reg", "--version", version, *extra])
    return export_job.run_export(cfg, args)


def test_export_gates_registers_and_extract_selects_by_name(spark, trained):
    cfg, result, tmp = trained
    done = export(cfg, result["best_dir"], tmp / "reg-1", "1.0.0", "--dev", "vi_generated")
    assert done["metrics"]["int8_f1_drop_points"] <= 0.5 and "dev_f1_int8" in done["metrics"]
    export(cfg, result["best_dir"], tmp / "reg-2", "1.1.0")
    assert export_job.lookup_model(cfg.lake.root, "smoke-reg")["version"] == "1.1.0"
    assert export_job.lookup_model(cfg.lake.root, "smoke-reg", "1.0.0")["path"] == str(tmp / "reg-1")
    with pytest.raises(ConfigError, match="already registered"):
        export(cfg, result["best_dir"], tmp / "reg-3", "1.1.0")
    records = tmp / "records.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["Gọi 0912 345 678 gặp anh Nguyễn Văn An ở Hà Nội"]}), records)
    run_cfg = load_config(overrides=[f"lake.root={cfg.lake.root}", f"input.path={records}", "model.name=smoke-reg",
                                     "model.version=1.0.0", "extract.progress=false"])
    row = run_extract(run_cfg, dt.date(2024, 3, 12), spark=spark)
    assert (row["model_name"], row["model_version"]) == ("smoke-reg", "1.0.0")


def test_export_fails_loudly_when_int8_loses_too_much(trained):
    cfg, result, tmp = trained
    with pytest.raises(export_job.ExportGateError, match="nothing was registered"):
        export(cfg, result["best_dir"], tmp / "gated", "9.9.9", "--dev", "vi_generated", "--max-f1-drop", "-1")
    assert not (tmp / "gated").exists()
    assert all(r["version"] != "9.9.9" for r in export_job.registry_rows(cfg.lake.root))


def test_dataset_weights_parse():
    assert parse_weights(["a", "b=0.25"]) == {"a": 1.0, "b": 0.25}


def test_latest_version_ordering():
    key = export_job._version_key
    versions = ["0.2.0", "1.0.0-rc1", "1.0.0", "1.10.0", "1.9.3", "v2", "0.2.beta"]
    assert max(versions, key=key) == "v2"
    assert sorted(["1.0.0", "1.0.0-rc1", "0.2.0", "1.10.0", "1.9.3"], key=key) == [
        "0.2.0", "1.0.0-rc1", "1.0.0", "1.9.3", "1.10.0"]


def test_phase_schedule_core_then_standard_labels(trained):
    cfg, _, tmp = trained
    schedule = tmp / "schedule.yaml"
    schedule.write_text(
        "name: phased\nmodel: scratch:tiny\nbatch_size: 8\nmax_length: 64\nvocab_size: 400\n"
        "phases:\n"
        "  - {name: core, datasets: {vi_generated: 1.0}, label_level: core, epochs: 1, max_steps_per_epoch: 2}\n"
        "  - {name: full, datasets: {vi_generated: 1.0}, epochs: 1, lr: 0.0002, max_steps_per_epoch: 2}\n",
        encoding="utf-8")
    result = run_train(cfg, build_parser().parse_args([
        "--schedule", str(schedule), "--out", str(tmp / "phased"), "--num-processes", "2",
        "--export", str(tmp / "phased-model")]))
    core, full = result["phases"]
    assert set(core["labels"]) == {"PER", "ORG", "LOC"} and "PHONE" in full["labels"]
    assert result["best_dir"] == str(tmp / "phased" / "full" / "best") and result["world_size"] == 2
    card = ModelDir.load(tmp / "phased-model").card
    assert [p["phase"] for p in card["phases"]] == ["core"] and card["schedule"]["phases"][1]["name"] == "full"
    assert "phase core (core labels): vi_generated=1" in card["training_data"]


def test_pretrain_then_train_from_the_pretrained_encoder(trained):
    from nerlake.jobs.pretrain import build_parser as pretrain_parser
    from nerlake.jobs.pretrain import run_pretrain

    cfg, _, tmp = trained
    texts = tmp / "texts.txt"
    texts.write_text("Khách hàng ở Hà Nội gọi tổng đài\n\nĐơn hàng giao tới Đà Nẵng\n", encoding="utf-8")
    pretrained = run_pretrain(cfg, pretrain_parser().parse_args([
        "--dataset", "vi_generated", "--text", str(texts), "--out", str(tmp / "pre"), "--preset", "tiny",
        "--steps", "4", "--batch-size", "8", "--vocab-size", "400", "--max-length", "64"]))
    assert pretrained["steps"] == 4 and pretrained["world_size"] == 2 and pretrained["texts"] > 2
    assert pretrained["history"][-1]["mlm_loss"] > 0
    result = run_train(cfg, build_parser().parse_args([
        "--dataset", "vi_generated", "--model", pretrained["best_dir"], "--out", str(tmp / "from-pre"),
        "--epochs", "1", "--max-steps-per-epoch", "2", "--batch-size", "8", "--max-length", "64",
        "--export", str(tmp / "from-pre-model")]))
    from safetensors.torch import load_file

    mlm = load_file(str(tmp / "pre" / "best" / "model.safetensors"))
    tuned = load_file(str(tmp / "from-pre" / "train" / "best" / "model.safetensors"))
    key = "bert.embeddings.word_embeddings.weight"
    # two small steps from the pretrained encoder, not from a fresh init (std 0.02)
    assert float((mlm[key] - tuned[key]).abs().max()) < 0.01
    assert ModelDir.load(tmp / "from-pre-model").card["base_model"].startswith("bert-tiny pretrained")
    assert result["export_dir"] == str(tmp / "from-pre-model")


def test_model_names_resolve_to_the_registry_then_the_packaged_models(tmp_path):
    from nerlake.jobs.extract import model_by_name, packaged_models

    shipped = packaged_models()
    assert {"vi-domain", "multi-core"} <= set(shipped)
    for name, path in shipped.items():
        assert model_by_name(str(tmp_path), name, "latest") == path
        assert ModelDir.load(path).name == name
    with pytest.raises(ConfigError, match="packaged vi-domain is version"):
        model_by_name(str(tmp_path), "vi-domain", "9.9.9")
    with pytest.raises(ConfigError, match="packaged models: .*multi-core"):
        model_by_name(str(tmp_path), "nope", "latest")
