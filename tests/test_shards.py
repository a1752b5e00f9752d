from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from nerlake.udfs.shards import (IGNORE_INDEX, SHARD_SCHEMA, ShardDataset, collate_padded, cycle_batches,
                                 list_shards, shard_table, steps_per_epoch)

# rows per file: uneven on purpose, so ranks and workers get different amounts
FILE_SIZES = [7, 3, 12, 1, 9, 5, 4]


def row_features(row_id: int):
    """A feature whose first input id names the row; its length varies with the id."""
    length = 2 + row_id % 5
    ids = np.array([row_id] + [1000 + k for k in range(length - 1)], dtype=np.int64)
    tags = np.arange(length, dtype=np.int64) % 3
    return ids, tags


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    row_id = 0
    for number, size in enumerate(FILE_SIZES):
        table = shard_table([row_features(row_id + k) for k in range(size)])
        # two row groups in the bigger files: the shuffle works per row group
        pq.write_table(table, out / f"part-{number:05d}.parquet", row_group_size=5)
        row_id += size
    (out / "_SUCCESS").write_text("")
    (out / ".part-00000.parquet.crc").write_text("not parquet")
    return out


def row_ids(rows) -> list[int]:
    return [int(row["input_ids"][0]) for row in rows]


def read_all(dataset, num_workers: int) -> list[int]:
    if num_workers == 0:
        return row_ids(dataset)
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers)  # real worker processes
    return row_ids(loader)


@pytest.mark.parametrize("shuffle_seed, epoch", [(None, 0), (11, 0), (11, 3)])
def test_two_ranks_two_workers_read_every_row_once(shard_dir, shuffle_seed, epoch):
    seen = []
    for rank in range(2):
        dataset = ShardDataset(shard_dir, shuffle_seed=shuffle_seed, epoch=epoch, rank=rank, world_size=2)
        ids = read_all(dataset, num_workers=2)
        assert len(ids) == dataset.rank_rows()
        seen += ids
    assert Counter(seen) == Counter(range(sum(FILE_SIZES)))


def test_rows_carry_every_column_as_int64(shard_dir):
    row = next(iter(ShardDataset(shard_dir)))
    expected_ids, expected_tags = row_features(0)
    assert set(row) == {"input_ids", "attention_mask", "labels"}
    assert all(v.dtype == np.int64 for v in row.values())
    np.testing.assert_array_equal(row["input_ids"], expected_ids)
    np.testing.assert_array_equal(row["labels"], expected_tags)
    np.testing.assert_array_equal(row["attention_mask"], np.ones(len(expected_ids)))


def test_without_seed_rows_come_in_file_order(shard_dir):
    assert row_ids(ShardDataset(shard_dir)) == list(range(sum(FILE_SIZES)))


def test_shuffle_is_deterministic_per_seed_and_epoch(shard_dir):
    def order(seed, epoch):
        return row_ids(ShardDataset(shard_dir, shuffle_seed=seed, epoch=epoch))

    assert order(5, 0) == order(5, 0)
    assert order(5, 0) != order(5, 1)
    assert order(5, 0) != order(6, 0)
    assert sorted(order(5, 1)) == list(range(sum(FILE_SIZES)))
    dataset = ShardDataset(shard_dir, shuffle_seed=5)
    dataset.set_epoch(1)
    assert row_ids(dataset) == order(5, 1)


def test_rows_shuffle_within_row_groups_and_files_between_epochs(shard_dir):
    dataset = ShardDataset(shard_dir, shuffle_seed=2)
    biggest = dataset.files[2]  # 12 rows: row groups of 5, 5 and 2; ids 10..21
    ids = row_ids(dataset._file_rows(biggest))
    assert ids != sorted(ids)
    assert [sorted(ids[:5]), sorted(ids[5:10]), sorted(ids[10:])] == [
        list(range(10, 15)), list(range(15, 20)), [20, 21]]
    orders = {tuple(ShardDataset(shard_dir, shuffle_seed=2, epoch=e).epoch_files()) for e in range(5)}
    assert len(orders) > 1


def test_a_files_row_order_does_not_depend_on_the_number_of_ranks(shard_dir):
    """Only the split changes with the world size, never what a file yields."""
    def per_file(world_size):
        out = {}
        for rank in range(world_size):
            dataset = ShardDataset(shard_dir, shuffle_seed=9, epoch=1, rank=rank, world_size=world_size)
            for path in dataset.rank_files():
                out[path] = row_ids(dataset._file_rows(path))
        return out

    assert per_file(1) == per_file(3)


def test_rank_files_partition_the_files(shard_dir):
    datasets = [ShardDataset(shard_dir, shuffle_seed=4, rank=r, world_size=3) for r in range(3)]
    files = [f for d in datasets for f in d.rank_files()]
    assert sorted(files) == datasets[0].files
    assert sum(d.rank_rows() for d in datasets) == datasets[0].total_rows == sum(FILE_SIZES)


def test_spark_bookkeeping_files_and_hidden_dirs_are_skipped(shard_dir, tmp_path):
    assert len(list_shards(shard_dir)) == len(FILE_SIZES)
    nested = tmp_path / "split=train"
    nested.mkdir()
    pq.write_table(shard_table([row_features(0)]), nested / "part-0.parquet")
    (tmp_path / "_temporary").mkdir()
    pq.write_table(shard_table([row_features(1)]), tmp_path / "_temporary" / "part-9.parquet")
    assert list_shards(tmp_path) == [str(nested / "part-0.parquet")]
    assert list_shards([tmp_path, nested / "part-0.parquet"]) == [str(nested / "part-0.parquet")]


@pytest.mark.parametrize("make, error", [
    (lambda d: d / "missing", FileNotFoundError),
    (lambda d: d, ValueError),  # a directory without Parquet files
])
def test_bad_paths_raise(tmp_path, make, error):
    with pytest.raises(error):
        ShardDataset(make(tmp_path))


@pytest.mark.parametrize("table, message", [
    (pa.table({"input_ids": [[1, 2]], "labels": [[0, 0]]}), "missing column"),
    (pa.table({"input_ids": [[1, 2], None], "attention_mask": [[1, 1], [1]], "labels": [[0, 0], [0]]}), "null"),
    (pa.table({"input_ids": [[1, 2]], "attention_mask": [[1, 1]], "labels": [[0]]}), "different lengths"),
    (pa.table({"input_ids": [["a"]], "attention_mask": [[1]], "labels": [[0]]}), "list of integers"),
])
def test_malformed_shards_raise_clearly(tmp_path, table, message):
    pq.write_table(table, tmp_path / "part-0.parquet")
    with pytest.raises(ValueError, match=message):
        list(ShardDataset(tmp_path))


@pytest.mark.parametrize("rank, world_size", [(2, 2), (-1, 2), (0, 0)])
def test_bad_rank_raises(shard_dir, rank, world_size):
    with pytest.raises(ValueError, match="rank"):
        ShardDataset(shard_dir, rank=rank, world_size=world_size)


@pytest.mark.parametrize("pad_id", [0, 3])
def test_collate_pads_to_the_longest_row(pad_id):
    rows = [{"input_ids": np.array([5, 6, 7]), "attention_mask": np.array([1, 1, 1]), "labels": np.array([-100, 1, -100])},
            {"input_ids": np.array([8]), "attention_mask": np.array([1]), "labels": np.array([2])}]
    batch = collate_padded(rows, pad_id=pad_id)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, pad_id, pad_id]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 1, -100], [2, IGNORE_INDEX, IGNORE_INDEX]]
    assert all(t.dtype == torch.int64 for t in batch.values())


def test_collate_through_a_data_loader(shard_dir):
    loader = DataLoader(ShardDataset(shard_dir), batch_size=4, collate_fn=collate_padded)
    batch = next(iter(loader))
    lengths = [len(row_features(i)[0]) for i in range(4)]
    assert batch["input_ids"].shape == (4, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths


@pytest.mark.parametrize("rows, batch, world, expected", [(100, 10, 2, 5), (101, 10, 2, 6), (3, 10, 4, 1)])
def test_steps_per_epoch(rows, batch, world, expected):
    assert steps_per_epoch(rows, batch, world) == expected


def test_every_rank_runs_the_same_number_of_steps_despite_uneven_shares(shard_dir):
    world_size, batch_size = 2, 4
    datasets = [ShardDataset(shard_dir, shuffle_seed=1, rank=r, world_size=world_size) for r in range(world_size)]
    assert datasets[0].rank_rows() != datasets[1].rank_rows()
    steps = steps_per_epoch(datasets[0].total_rows, batch_size, world_size)
    for dataset in datasets:
        batches = list(cycle_batches(DataLoader(dataset, batch_size=batch_size, collate_fn=collate_padded), steps))
        assert len(batches) == steps


def test_cycle_batches_restarts_and_rejects_an_empty_loader():
    assert list(cycle_batches([1, 2], 5)) == [1, 2, 1, 2, 1]
    with pytest.raises(ValueError, match="no rows"):
        list(cycle_batches([], 1))


def test_shard_table_has_the_spark_schema():
    table = shard_table([row_features(0), row_features(1)])
    assert table.schema == SHARD_SCHEMA
    assert table.column("attention_mask").to_pylist() == [[1, 1], [1, 1, 1]]
    with pytest.raises(ValueError, match="labels"):
        shard_table([(np.array([1, 2]), np.array([0]))])


def test_reads_shards_written_by_spark(spark, tmp_path):
    # the rows of row_features, built in SQL: three partitions give three files
    frame = spark.range(0, 40, 1, 3).selectExpr(
        "concat(array(cast(id as int)), sequence(1000, 1000 + cast(id % 5 as int))) as input_ids",
        "array_repeat(1, 2 + cast(id % 5 as int)) as attention_mask",
        "transform(sequence(0, 1 + cast(id % 5 as int)), x -> x % 3) as labels",
    )
    frame.write.parquet(str(tmp_path / "spark"))
    seen = []
    for rank in range(2):
        seen += list(ShardDataset(tmp_path / "spark", shuffle_seed=0, rank=rank, world_size=2))
    assert sorted(row_ids(seen)) == list(range(40))
    for row in seen:
        ids, tags = row_features(int(row["input_ids"][0]))
        np.testing.assert_array_equal(row["input_ids"], ids)
        np.testing.assert_array_equal(row["labels"], tags)
        np.testing.assert_array_equal(row["attention_mask"], np.ones(len(ids)))
