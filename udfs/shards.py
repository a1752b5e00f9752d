"""Training data for torch from Parquet shards written by Spark (or :func:`write_shards`).

Each shard row is one tokenised, label-aligned sequence: integer lists ``input_ids``,
``attention_mask`` and ``labels`` (same length per row, any length across rows).
:class:`ShardDataset` streams them as a ``torch.utils.data.IterableDataset``:

- files are split round-robin first over distributed ranks, then over the DataLoader
  workers of each rank, so each row is read exactly once per epoch across
  ranks x workers (petastorm would do this but cannot be installed next to Spark 4.2's
  pyarrow);
- with ``shuffle_seed`` the file order and the rows inside each row group are shuffled
  deterministically by ``(seed, epoch)``; every rank computes the same file order, so the
  split over ranks stays a partition;
- :func:`collate_padded` pads a batch to its longest row (labels with -100).

Ranks get different numbers of rows (files differ in size, and a file is never split).
DDP needs every rank to run the same number of steps or the all-reduce of the rank that
runs longer waits forever: see :func:`steps_per_epoch` and :func:`cycle_batches`, which
the training loop uses to give every rank exactly the same number of steps.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

DEFAULT_COLUMNS = ("input_ids", "attention_mask", "labels")
IGNORE_INDEX = -100  # CrossEntropyLoss ignore_index, as in modeling.py
# column -> padding value; other columns pad with 0
PAD_VALUES = {"attention_mask": 0, "labels": IGNORE_INDEX}


def list_shards(paths_or_dir: str | Path | Iterable[str | Path]) -> list[str]:
    """Sorted Parquet data files of a directory tree, a file, or a list of either.

    Spark's bookkeeping files (``_SUCCESS``, ``.crc``, ``_committed_*``, hidden
    directories) are skipped: only ``*.parquet`` files whose path has no component
    starting with ``_`` or ``.`` below the given directory are data.
    """
    roots = [paths_or_dir] if isinstance(paths_or_dir, (str, Path)) else list(paths_or_dir)
    if not roots:
        raise ValueError("no shard paths given")
    files: set[str] = set()
    for root in map(Path, roots):
        if root.is_file():
            files.add(str(root))
        elif root.is_dir():
            for path in root.rglob("*.parquet"):
                if not any(part.startswith(("_", ".")) for part in path.relative_to(root).parts):
                    files.add(str(path))
        else:
            raise FileNotFoundError(f"shard path {root} does not exist")
    if not files:
        raise ValueError(f"no Parquet files under {', '.join(map(str, roots))}")
    return sorted(files)


def _int_lists(column: pa.ChunkedArray | pa.Array, name: str, path: str) -> list[np.ndarray]:
    """One int64 numpy array per row of a Parquet list column (views into one buffer)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        raise ValueError(f"{path}: column {name} is {array.type}, expected a list of integers")
    if not pa.types.is_integer(array.type.value_type):
        raise ValueError(f"{path}: column {name} is {array.type}, expected a list of integers")
    if array.null_count or array.values.null_count:
        raise ValueError(f"{path}: column {name} has null values")
    # offsets index into .values even when the array is a slice
    offsets = array.offsets.to_numpy()
    values = array.values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return [values[offsets[i]:offsets[i + 1]] for i in range(len(array))]


class ShardDataset(IterableDataset):
    """Rows of Parquet shards as dicts of int64 numpy arrays, one column per key.

    ``rank`` / ``world_size`` default to ``torch.distributed``'s when a process group is
    initialised, else 0 / 1. Call :meth:`set_epoch` before each epoch to reshuffle.
    """

    def __init__(self, paths_or_dir, columns: Sequence[str] = DEFAULT_COLUMNS, shuffle_seed: int | None = None,
                 epoch: int = 0, *, rank: int | None = None, world_size: int | None = None):
        self.files = list_shards(paths_or_dir)
        self.columns = tuple(columns)
        if not self.columns:
            raise ValueError("columns must not be empty")
        self.shuffle_seed = shuffle_seed
        self.epoch = epoch
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        if rank is None:
            rank, world_size = _distributed_rank()
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        self.rank, self.world_size = rank, world_size
        self._index = {path: i for i, path in enumerate(self.files)}
        self._rows = {}
        for path in self.files:  # one footer read per file: row count and columns
            metadata = pq.read_metadata(path)
            missing = [c for c in self.columns if c not in metadata.schema.to_arrow_schema().names]
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
            self._rows[path] = metadata.num_rows

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def total_rows(self) -> int:
        """Rows of all files, all ranks together (from the Parquet footers)."""
        return sum(self._rows.values())

    def epoch_files(self) -> list[str]:
        """All files in this epoch's order (the same on every rank)."""
        if self.shuffle_seed is None:
            return list(self.files)
        order = np.random.default_rng([self.shuffle_seed, self.epoch]).permutation(len(self.files))
        return [self.files[i] for i in order]

    def rank_files(self, rank: int | None = None) -> list[str]:
        """The files rank ``rank`` (default: this one) reads this epoch."""
        rank = self.rank if rank is None else rank
        return self.epoch_files()[rank::self.world_size]

    def rank_rows(self, rank: int | None = None) -> int:
        """Rows rank ``rank`` (default: this one) reads this epoch, all its workers together."""
        return sum(self._rows[path] for path in self.rank_files(rank))

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for path in self.rank_files()[worker::workers]:
            yield from self._file_rows(path)

    def _file_rows(self, path: str) -> Iterator[dict[str, np.ndarray]]:
        parquet = pq.ParquetFile(path)
        # the row order of a file depends only on (seed, epoch, file), not on how many
        # ranks or workers read the data set
        file_index = self._index[path]
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=list(self.columns))
            lists = {name: _int_lists(table.column(name), name, path) for name in self.columns}
            order = range(table.num_rows)
            if self.shuffle_seed is not None:
                rng = np.random.default_rng([self.shuffle_seed, self.epoch, file_index, group])
                order = rng.permutation(table.num_rows)
            for i in order:
                row = {name: lists[name][i] for name in self.columns}
                lengths = {len(v) for v in row.values()}
                if len(lengths) > 1:
                    raise ValueError(f"{path} row group {group} row {i}: columns have different lengths "
                                     + ", ".join(f"{k}={len(v)}" for k, v in row.items()))
                yield row


def _distributed_rank() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def collate_padded(rows: list[dict[str, np.ndarray]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Stack rows into int64 tensors padded to the batch's longest row.

    ``input_ids`` pad with ``pad_id``, ``labels`` with -100 (ignored by the loss),
    ``attention_mask`` and any other column with 0. Use
    ``functools.partial(collate_padded, pad_id=...)`` as a DataLoader ``collate_fn``.
    """
    if not rows:
        raise ValueError("empty batch")
    width = max(len(next(iter(row.values()))) for row in rows)
    batch = {}
    for name in rows[0]:
        fill = pad_id if name == "input_ids" else PAD_VALUES.get(name, 0)
        out = np.full((len(rows), width), fill, dtype=np.int64)
        for r, row in enumerate(rows):
            out[r, :len(row[name])] = row[name]
        batch[name] = torch.from_numpy(out)
    return batch


def steps_per_epoch(total_rows: int, batch_size: int, world_size: int) -> int:
    """Optimizer steps every rank runs per epoch: one pass over all rows in world batches.

    Every rank runs exactly this many steps whatever its own share of rows, so DDP's
    gradient all-reduce always has all ranks present (see :func:`cycle_batches`).
    """
    if total_rows < 1 or batch_size < 1 or world_size < 1:
        raise ValueError(f"need positive rows, batch size and world size, got {total_rows}, {batch_size}, {world_size}")
    return max(1, math.ceil(total_rows / (batch_size * world_size)))


def cycle_batches(loader, steps: int) -> Iterator:
    """Exactly ``steps`` batches from ``loader``, starting it again when it runs out.

    A rank whose share of the rows is smaller than the average sees a few of its rows
    twice in the epoch rather than stopping early (which would deadlock DDP). Raises if a
    full pass of the loader yields no batch at all.
    """
    produced = 0
    while produced < steps:
        empty_pass = True
        for batch in loader:
            empty_pass = False
            yield batch
            produced += 1
            if produced == steps:
                return
        if empty_pass:
            raise ValueError("the data loader yielded no batch: this rank has no rows")


# Spark writes array<int> columns as Parquet lists of int32; shards written without Spark
# use the same schema so that both read alike.
SHARD_SCHEMA = pa.schema([(name, pa.list_(pa.int32())) for name in DEFAULT_COLUMNS])


def shard_table(features: Sequence[tuple[np.ndarray, np.ndarray]]) -> pa.Table:
    """``(input_ids, label_ids)`` pairs (as from ``modeling.encode_examples``) as a table
    of :data:`SHARD_SCHEMA`, attention mask all ones."""
    lengths = np.fromiter((len(ids) for ids, _ in features), dtype=np.int64, count=len(features))
    for n, (ids, tags) in enumerate(features):
        if len(ids) != len(tags):
            raise ValueError(f"feature {n}: {len(ids)} input ids but {len(tags)} labels")
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))

    def column(parts) -> pa.ListArray:
        values = np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, dtype=np.int32)
        return pa.ListArray.from_arrays(offsets, pa.array(values, type=pa.int32()))

    return pa.Table.from_arrays(
        [column([ids for ids, _ in features]),
         column([np.ones(len(ids), dtype=np.int32) for ids, _ in features]),
         column([tags for _, tags in features])],
        schema=SHARD_SCHEMA,
    )
