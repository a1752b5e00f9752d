"""Reading ``training_examples`` for training: one split of several datasets, mixed by weight.

    frame = mixture(spark, lake_root, {"vi_generated": 1.0, "wnut17": 0.5}, split="train", seed=0)

``weights`` follow ``udfs.splits.mixture_fractions`` (``mode="absolute"``: amounts relative
to the dataset of weight 1, e.g. "add 50 % out-of-domain data"; ``"proportional"``: shares).
Each example appears ``sample_count(example_id, fraction, seed)`` times (0, 1, 2, ...):
deterministic per example, so the same call gives the same mixture on any cluster.
"""
from __future__ import annotations

from deltalake import DeltaTable

from ..udfs.config import ConfigError
from ..udfs.splits import mixture_fractions
from . import lake


def examples_frame(spark, lake_root: str, datasets: list[str], split: str):
    uri = lake.table_uri(lake_root, "training_examples")
    if lake.open_table(uri) is None:
        raise ConfigError(f"no training_examples table under {lake_root}: run nerlake ingest first")
    files = DeltaTable(uri).file_uris(file_pruning_predicate=[("dataset", "in", datasets), ("split", "=", split)])
    if not files:
        raise ConfigError(f"training_examples has no rows for datasets {datasets} split {split!r}")
    return spark.read.option("basePath", uri).parquet(*files)


def mixture(spark, lake_root: str, weights: dict[str, float], split: str = "train", seed: int = 0,
            mode: str = "absolute", total: float | None = None):
    """The examples of ``split`` from the weighted datasets, each repeated as sampled."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType

    from ..udfs.splits import sample_count

    df = examples_frame(spark, lake_root, sorted(weights), split)
    counts = {r["dataset"]: r["count"] for r in df.groupBy("dataset").count().collect()}
    missing = sorted(set(weights) - set(counts))
    if missing:
        raise ConfigError(f"dataset {missing[0]!r} has no {split!r} examples in training_examples")
    fractions = mixture_fractions(counts, weights, total=total, mode=mode)
    fraction = F.create_map(*[x for name, f in fractions.items() for x in (F.lit(name), F.lit(float(f)))])
    times = F.udf(lambda eid, f: sample_count(eid, f, seed), IntegerType())
    repeated = df.withColumn("_times", times("example_id", fraction[F.col("dataset")]))
    return (repeated.filter("_times > 0")
            .withColumn("_copy", F.explode(F.sequence(F.lit(1), F.col("_times"))))
            .drop("_times"))
