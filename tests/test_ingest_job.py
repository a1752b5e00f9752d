"""nerlake ingest on a real local SparkSession over hand-made corpus fixtures and generated gold."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from nerlake.jobs.config import load_config
from nerlake.jobs.ingest import run_ingest
from nerlake.udfs.bio import is_valid_bio
from nerlake.udfs.config import ConfigError

FIXTURES = Path(__file__).parent / "data" / "corpora"


def config(lake, *extra):
    return load_config(overrides=[f"lake.root={lake}", f"ingest.data_root={FIXTURES}",
                                  f"ingest.registry={FIXTURES / 'registry.yaml'}", "extract.progress=false", *extra])


def examples(lake):
    return DeltaTable(str(lake / "training_examples")).to_pyarrow_table().to_pylist()


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    first = run_ingest(config(lake), ["fx_social", "fx_sec", "fx_uner"], [], sample=300, sample_seed=1, spark=spark)
    rows_first = examples(lake)
    second = run_ingest(config(lake), ["fx_social", "fx_sec", "fx_uner"], [], sample=300, sample_seed=1, spark=spark)
    return lake, first, second, rows_first


def test_every_split_lands_in_its_partition(ingested):
    lake, first, _, _ = ingested
    got = Counter((r["dataset"], r["split"]) for r in examples(lake))
    assert got[("fx_social", "train")] == 3 and got[("fx_social", "dev")] == 5
    assert got[("fx_uner", "dev")] == 3
    # fx_sec has only a train split: it is split by hash, and nothing is lost doing so
    assert sum(n for (d, _), n in got.items() if d == "fx_sec") == 2
    assert sum(n for (d, _), n in got.items() if d == "vi_generated") == 300
    assert {s for (d, s) in got if d == "vi_generated"} == {"train", "dev", "test"}
    assert first["written"] == {f"{d}/{s}": n for (d, s), n in got.items()}


def test_rows_are_valid_aligned_examples(ingested):
    lake, *_ = ingested
    for r in examples(lake):
        assert len(r["tokens"]) == len(r["labels"]) and is_valid_bio(r["labels"])
        for span in r["spans"]:
            assert 0 <= span["start"] < span["end"] <= len(r["text"])
    io_converted = [r for r in examples(lake) if r["dataset"] == "fx_sec"]
    assert any(label.startswith("B-") for r in io_converted for label in r["labels"])


def test_ingesting_again_replaces_instead_of_appending(ingested):
    lake, first, second, rows_first = ingested
    key = lambda r: (r["dataset"], r["split"], r["example_id"])  # noqa: E731
    assert sorted(map(key, examples(lake))) == sorted(map(key, rows_first))
    assert {r["run_id"] for r in examples(lake)} == {second["run_id"]}


def test_reports_land_in_data_reports_and_runs(ingested):
    lake, first, *_ = ingested
    reports = DeltaTable(str(lake / "data_reports")).to_pyarrow_table().to_pylist()
    mine = [r for r in reports if r["run_id"] == first["run_id"]]
    assert {r["metric"] for r in mine} >= {"sentences", "entities_after", "invalid_I_after_O", "examples_written"}
    runs = DeltaTable(str(lake / "runs")).to_pyarrow_table().to_pylist()
    assert [r["status"] for r in runs if r["job"] == "ingest"] == ["succeeded", "succeeded"]


def test_unknown_dataset_is_a_config_error(spark, tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        run_ingest(config(tmp_path), ["nope"], [], sample=0, sample_seed=0, spark=spark)


def test_augment_writes_a_separate_valid_dataset(spark, ingested):
    from nerlake.jobs.augment import run_augment

    lake, *_ = ingested
    result = run_augment(config(lake, "augment.copies=2"), ["vi_generated"], spark=spark)
    rows = [r for r in examples(lake) if r["dataset"] == "vi_generated_aug"]
    originals = {r["example_id"]: r for r in examples(lake) if r["dataset"] == "vi_generated"}
    assert rows and result["written"] == {"vi_generated_aug/train": len(rows)}
    assert {r["split"] for r in rows} == {"train"}
    for r in rows:
        assert len(r["tokens"]) == len(r["labels"]) and is_valid_bio(r["labels"])
        original = originals[r["example_id"].split("#aug")[0]]
        assert original["split"] == "train" and r["text"] != original["text"]
    again = run_augment(config(lake, "augment.copies=2"), ["vi_generated"], spark=spark)
    assert again["written"] == result["written"]  # deterministic and replaced, not appended
    assert len([r for r in examples(lake) if r["dataset"] == "vi_generated_aug"]) == len(rows)


def test_mixture_follows_the_weights(spark, ingested):
    from nerlake.jobs.datasets import mixture

    lake, *_ = ingested
    mixed = mixture(spark, str(lake), {"vi_generated": 1.0, "fx_social": 2.0}, split="train", seed=0)
    got = {r["dataset"]: r["count"] for r in mixed.groupBy("dataset").count().collect()}
    train = Counter(r["dataset"] for r in examples(lake) if r["split"] == "train")
    # absolute mode: fx_social is repeated until it is twice the size of the weight-1 dataset
    assert got["vi_generated"] == train["vi_generated"]
    # each example's count rounds up or down by at most one
    assert abs(got["fx_social"] - 2 * train["vi_generated"]) <= train["fx_social"]
    again = mixture(spark, str(lake), {"vi_generated": 1.0, "fx_social": 2.0}, split="train", seed=0)
    assert sorted(r["example_id"] for r in again.collect()) == sorted(r["example_id"] for r in mixed.collect())
