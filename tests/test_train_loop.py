import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from nerlake.udfs.config import ConfigError
from nerlake.udfs.labels import bio_labels
from nerlake.udfs.modeling import encode_examples, export_onnx, save_tokenizer, train_tokenizer
from nerlake.udfs.sample_generator import generate_records
from nerlake.udfs.shards import ShardDataset, shard_table, steps_per_epoch
from nerlake.udfs.train_loop import (bio_entities, entity_counts, f1_from_counts, parse_train_args, read_result,
                                     run_with_distributor, train_main, weighted_token_loss, write_shards)

LABELS = ["PER", "LOC", "PHONE"]
MAX_LENGTH = 64


@pytest.fixture(scope="module")
def records():
    return [(r["text"], r["gold"]) for r in generate_records(200, seed=3, defect_rate=0.0)]


@pytest.fixture(scope="module")
def tokenizer_dir(records, tmp_path_factory):
    out = tmp_path_factory.mktemp("tokenizer")
    save_tokenizer(train_tokenizer([text for text, _ in records], vocab_size=2000), out, MAX_LENGTH)
    return out


@pytest.fixture(scope="module")
def generated_shards(records, tokenizer_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    # 40 windows a file gives 5 train files: the two ranks get 3 and 2, unequal shares
    train = write_shards(records[:160], tokenizer_dir, LABELS, root / "train", MAX_LENGTH, rows_per_file=40)
    write_shards(records[160:], tokenizer_dir, LABELS, root / "dev", MAX_LENGTH, rows_per_file=20)
    return {"root": root, "train": root / "train", "dev": root / "dev", "train_rows": train["rows"]}


def learnable_rows(n: int, seed: int):
    """[CLS] tokens [SEP] where every token id below 60 is a one-token PER: a rule the
    embedding layer alone can learn."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        body = rng.integers(5, 200, size=rng.integers(6, 18))
        ids = np.concatenate([[2], body, [3]])
        tags = np.concatenate([[-100], np.where(body < 60, 1, 0), [-100]])  # 1 = B-PER
        rows.append((ids, tags))
    return rows


@pytest.fixture(scope="module")
def learnable_shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("learnable")
    for name, rows, seed in (("train", 64, 0), ("dev", 16, 1)):
        (root / name).mkdir()
        for k in range(2):
            pq.write_table(shard_table(learnable_rows(rows, seed * 10 + k)), root / name / f"part-{k}.parquet")
    return root


def base_args(tokenizer_dir, shards, out_dir, labels=LABELS, **overrides):
    return {"train_shards": str(shards / "train"), "dev_shards": str(shards / "dev"), "labels": labels,
            "tokenizer_dir": str(tokenizer_dir), "out_dir": str(out_dir), "model": "scratch:tiny",
            "max_length": MAX_LENGTH, "batch_size": 16, "lr": 3e-3, "dropout": 0.0, "warmup_fraction": 0.0,
            "num_threads": 1, "collective_timeout_s": 120, **overrides}


def load_best(best_dir):
    from transformers import AutoModelForTokenClassification

    return AutoModelForTokenClassification.from_pretrained(best_dir)


# ---------------------------------------------------------------------------- TorchDistributor

def test_trains_through_torch_distributor_local_then_distributed_resuming(spark, tokenizer_dir, generated_shards,
                                                                           tmp_path):
    """Done-when of issue 5: both TorchDistributor modes, and resume across them."""
    from pyspark.ml.torch.distributor import TorchDistributor

    out = tmp_path / "run"
    args = base_args(tokenizer_dir, generated_shards["root"], out, o_weight=0.5, epochs=1)
    steps = steps_per_epoch(generated_shards["train_rows"], 16, 2)

    first = run_with_distributor(TorchDistributor(num_processes=2, local_mode=True, use_gpu=False), args)
    assert first["world_size"] == 2
    assert (first["start_epoch"], first["epochs_run"], first["steps"]) == (1, 1, steps)
    assert [h["epoch"] for h in first["history"]] == [1]
    assert math.isfinite(first["history"][0]["loss"]) and 0 <= first["best_dev_f1"] <= 1
    assert first == read_result(out, first["run_id"])
    model = load_best(first["best_dir"])
    assert model.config.id2label == dict(enumerate(bio_labels(LABELS)))
    assert (out / "checkpoint" / "state.pt").exists()

    second = run_with_distributor(TorchDistributor(num_processes=2, local_mode=False, use_gpu=False),
                                  dict(args, epochs=2))
    assert (second["start_epoch"], second["epochs_run"], second["steps"]) == (2, 2, 2 * steps)
    assert second["history"][0] == first["history"][0]
    assert second["world_size"] == 2 and second["run_id"] != first["run_id"]
    load_best(second["best_dir"])


# ---------------------------------------------------------------------------- in-process loop

def test_loss_decreases_and_dev_f1_rises_on_a_learnable_set(tokenizer_dir, learnable_shards, tmp_path):
    threads = torch.get_num_threads()
    result = train_main(json.dumps(base_args(tokenizer_dir, learnable_shards, tmp_path, labels=["PER"], epochs=3)))
    assert torch.get_num_threads() == threads  # in-process calls leave torch as they found it
    losses = [h["loss"] for h in result["history"]]
    assert losses[2] < losses[1] < losses[0] and losses[2] < 0.2 * losses[0]
    assert result["history"][-1]["dev_f1"] > 0.9
    assert result["best_dev_f1"] == max(h["dev_f1"] for h in result["history"])
    assert (result["world_size"], result["steps"]) == (1, 3 * steps_per_epoch(128, 16, 1))
    # the saved best model predicts the rule too
    model = load_best(result["best_dir"]).eval()
    ids, tags = learnable_rows(1, 99)[0]
    with torch.no_grad():
        predicted = model(input_ids=torch.from_numpy(ids)[None]).logits.argmax(-1)[0].numpy()
    assert (predicted[1:-1] == tags[1:-1]).mean() > 0.9
    # a scratch model's best directory is what the ONNX export takes (it validates the result)
    export_onnx(result["best_dir"], tmp_path / "onnx", quantize=False)


def test_early_stopping_then_a_finished_run_stays_finished(tokenizer_dir, learnable_shards, tmp_path):
    # no gain can exceed min_delta 1.0: epoch 2 does not improve and patience 1 stops there
    args = base_args(tokenizer_dir, learnable_shards, tmp_path, labels=["PER"], epochs=5, patience=1,
                     min_delta=1.0, max_steps_per_epoch=1)
    result = train_main(json.dumps(args))
    assert result["stopped_early"] and result["epochs_run"] == 2 and result["steps"] == 2
    assert result["best_dev_f1"] == result["history"][0]["dev_f1"]

    again = train_main(json.dumps(args))
    assert (again["start_epoch"], again["epochs_run"], again["steps"]) == (3, 2, 2)
    assert again["history"] == result["history"]

    with pytest.raises(ValueError, match="resume=false"):
        train_main(json.dumps(dict(args, labels=["LOC"])))
    fresh = train_main(json.dumps(dict(args, resume=False, epochs=1)))
    assert (fresh["start_epoch"], fresh["epochs_run"]) == (1, 1)


class FinishedThenAborted:
    """A distributor whose processes finish training, then abort at interpreter exit."""

    def run(self, fn, args_json):
        fn(args_json)
        raise RuntimeError("Command failed with return code -6: terminate called without an active exception")


class FailsBeforeTraining:
    def run(self, fn, args_json):
        raise RuntimeError("rendezvous failed")


def test_run_with_distributor_uses_the_result_of_a_run_that_finished(tokenizer_dir, learnable_shards, tmp_path):
    args = base_args(tokenizer_dir, learnable_shards, tmp_path, labels=["PER"], epochs=1, max_steps_per_epoch=1)
    result = run_with_distributor(FinishedThenAborted(), args)
    assert result["epochs_run"] == 1 and result["run_id"]
    with pytest.raises(RuntimeError, match="rendezvous"):
        run_with_distributor(FailsBeforeTraining(), dict(args, resume=False))  # the old result is another run's


# ---------------------------------------------------------------------------- pieces

def test_write_shards_encodes_like_modeling(records, tokenizer_dir, generated_shards, tmp_path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    features, _ = encode_examples(tokenizer, records[:160], bio_labels(LABELS), MAX_LENGTH)
    rows = list(ShardDataset(generated_shards["train"]))
    assert len(rows) == len(features) == generated_shards["train_rows"]
    assert len(ShardDataset(generated_shards["train"]).files) == math.ceil(len(features) / 40)
    for row, (ids, tags) in zip(rows, features):
        np.testing.assert_array_equal(row["input_ids"], ids)
        np.testing.assert_array_equal(row["labels"], tags)
    with pytest.raises(FileExistsError):
        write_shards(records[:5], tokenizer_dir, LABELS, generated_shards["train"], MAX_LENGTH, 10)


@pytest.mark.parametrize("tags, expected", [
    (["O", "B-PER", "I-PER", "O"], {(1, 3, "PER")}),
    (["B-PER", "B-PER", "I-LOC"], {(0, 1, "PER"), (1, 2, "PER"), (2, 3, "LOC")}),
    (["I-LOC", "I-LOC", "O", "B-LOC"], {(0, 2, "LOC"), (3, 4, "LOC")}),
    (["O", "O"], set()),
    (["B-LOC", "I-LOC"], {(0, 2, "LOC")}),
])
def test_bio_entities(tags, expected):
    bio = bio_labels(["PER", "LOC"])
    assert bio_entities([bio.index(t) for t in tags], bio) == expected


def test_entity_counts_and_f1():
    bio = bio_labels(["PER"])
    counts = entity_counts([1, 2, 0, 1], [1, 2, 0, 0], bio)
    assert counts.tolist() == [1, 2, 1]
    assert f1_from_counts(counts) == pytest.approx(2 / 3)
    assert f1_from_counts([0, 0, 0]) == 0.0


def test_weighted_token_loss_matches_cross_entropy_and_survives_empty_batches():
    logits = torch.randn(2, 4, 3)
    labels = torch.tensor([[-100, 0, 1, 2], [0, 0, -100, -100]])
    weights = torch.tensor([0.5, 1.0, 1.0])
    expected = torch.nn.CrossEntropyLoss(weight=weights)(logits.reshape(-1, 3), labels.reshape(-1))
    assert weighted_token_loss(logits, labels, weights).item() == pytest.approx(expected.item())
    assert weighted_token_loss(logits, torch.full((2, 4), -100), weights).item() == 0.0


@pytest.mark.parametrize("change, message", [
    ({"model": "scratch:huge"}, "model"),
    ({"tokenizer_dir": None}, "tokenizer_dir"),
    ({"labels": []}, "labels"),
    ({"labels": ["PER", "PER"]}, "labels"),
    ({"o_weight": 0}, "o_weight"),
    ({"epochs": "3"}, "epochs"),
    ({"learning_rate": 1e-3}, "unknown key learning_rate"),
    ({"train_shards": []}, "train_shards"),
])
def test_bad_arguments_raise_config_errors(change, message):
    args = {"train_shards": "x", "out_dir": "y", "labels": ["PER"], "tokenizer_dir": "t", **change}
    with pytest.raises(ConfigError, match=message):
        parse_train_args(json.dumps(args))


def test_arguments_must_be_a_json_object():
    with pytest.raises(ConfigError, match="JSON"):
        parse_train_args("{not json")
    with pytest.raises(ConfigError, match="object"):
        parse_train_args("[1, 2]")
