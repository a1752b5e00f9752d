"""Deterministic splits, mixture fractions and hash-based sampling."""
from __future__ import annotations

import hashlib
import math
import random
from collections import Counter

import pytest

from nerlake.udfs.config import ConfigError
from nerlake.udfs.splits import (
    DEFAULT_RATIOS, assign_split, mixture_fractions, sample_count, sample_ids, split_sql, unit_hash,
)

IDS = [f"corpus-{i}" for i in range(10_000)]


def documented_hash(key: str) -> float:
    """The formula of the module docstring, written out again."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2 ** 64


# --- splits ---------------------------------------------------------------------------

# Computed once from the documented formula: a change of hash, key or boundary rule breaks them.
@pytest.mark.parametrize("example_id, salt, split", [
    ("uner_vi:train:0", "", "train"),
    ("vlsp2016:000123", "", "dev"),
    ("doc-42#s3", "", "test"),
    ("Hà Nội 1", "", "train"),
    ("", "", "dev"),
    ("vlsp2016:000123", "v2", "test"),
    ("doc-42#s3", "v2", "train"),
])
def test_fixed_assignments(example_id, salt, split):
    assert assign_split(example_id, salt=salt) == split


def test_unit_hash_is_the_documented_formula():
    assert unit_hash("abc") == 12220867466687316330 / 2 ** 64
    for example_id in IDS[:500] + ["Hà Nội", "ả", ""]:
        assert unit_hash(example_id) == documented_hash(example_id)


@pytest.mark.parametrize("ratios", [DEFAULT_RATIOS, {"train": 0.5, "test": 0.5}, {"a": 0.2, "b": 0.0, "c": 0.8},
                                    {"train": 0.7, "dev": 0.15, "test": 0.15}])
def test_split_ratios_hold_on_10k_ids(ratios):
    counts = Counter(assign_split(example_id, ratios) for example_id in IDS)
    for name, ratio in ratios.items():
        assert abs(counts[name] / len(IDS) - ratio) < 0.015, (name, counts)
    assert set(counts) <= set(ratios)


def test_split_follows_cumulative_ratios_in_their_order():
    ratios = {"dev": 0.1, "test": 0.1, "train": 0.8}
    for example_id in IDS[:2000]:
        u = documented_hash(example_id)
        expected = "dev" if u < 0.1 else "test" if u < 0.2 else "train"
        assert assign_split(example_id, ratios) == expected


def test_salt_draws_another_split():
    same = sum(assign_split(i) == assign_split(i, salt="2025") for i in IDS[:2000])
    # two independent 80/10/10 draws agree on 0.8^2 + 2 * 0.1^2 = 66 % of ids
    assert 0.60 < same / 2000 < 0.72


@pytest.mark.parametrize("ratios, message", [
    ({"train": 0.8, "dev": 0.1}, "sum to 1"),
    ({"train": 0.8, "dev": 0.1, "test": 0.2}, "sum to 1"),
    ({"train": 1.1, "dev": -0.1}, ">= 0"),
    ({"train": float("nan"), "dev": 1.0}, ">= 0"),
    ({"train": "0.8", "dev": 0.2}, ">= 0"),
    ({"": 1.0}, "non-empty"),
])
def test_bad_ratios(ratios, message):
    with pytest.raises(ConfigError, match=message):
        assign_split("x", ratios)


def test_id_must_be_a_string():
    with pytest.raises(TypeError, match="string"):
        assign_split(123)


def test_split_sql_matches_python_in_spark(spark):
    ids = IDS[:1000] + ["Hà Nội ✓", "", "a'b", "x\\y"]
    frame = spark.createDataFrame([(i,) for i in ids], "example_id string")
    for ratios, salt in [(None, ""), ({"train": 0.7, "dev": 0.15, "test": 0.15}, "it's\\v2")]:
        rows = frame.selectExpr("example_id", f"{split_sql('example_id', ratios, salt)} AS split").collect()
        assert {r.example_id: r.split for r in rows} == {i: assign_split(i, ratios, salt) for i in ids}


# --- mixtures -------------------------------------------------------------------------

RECIPES = [
    # add 50 % out-of-domain data to a small target domain
    ({"target": 2_000, "ood": 100_000}, {"target": 1.0, "ood": 0.5}, {"target": 1.0, "ood": 0.01}),
    # target-language data mixed with a quarter as much English
    ({"vi": 40_000, "en": 500_000}, {"vi": 1.0, "en": 0.25}, {"vi": 1.0, "en": 0.02}),
]


@pytest.mark.parametrize("mode", ["proportional", "absolute"])
@pytest.mark.parametrize("counts, weights, expected", RECIPES)
def test_documented_recipes(counts, weights, expected, mode):
    fractions = mixture_fractions(counts, weights, mode=mode)
    assert fractions == pytest.approx(expected)
    sizes = {name: counts[name] * f for name, f in fractions.items()}
    reference, other = weights
    assert sizes[other] / sizes[reference] == pytest.approx(weights[other])


def test_scarce_extra_data_is_repeated_in_absolute_mode_and_shrinks_the_rest_in_proportional():
    counts, weights = {"target": 1_000, "ood": 300}, {"target": 1.0, "ood": 0.5}
    assert mixture_fractions(counts, weights, mode="absolute") == pytest.approx({"target": 1.0, "ood": 500 / 300})
    assert mixture_fractions(counts, weights) == pytest.approx({"target": 0.6, "ood": 1.0})


@pytest.mark.parametrize("mode, total, expected", [
    ("proportional", 3_000, {"target": 2.0, "ood": 0.01}),  # 2/3 and 1/3 of 3,000
    ("absolute", 1_500, {"target": 1.5, "ood": 0.0075}),  # weight 1.0 = 1,500 examples
])
def test_total(mode, total, expected):
    fractions = mixture_fractions({"target": 1_000, "ood": 100_000}, {"target": 1.0, "ood": 0.5}, total, mode)
    assert fractions == pytest.approx(expected)


def test_datasets_without_weight_get_fraction_zero():
    fractions = mixture_fractions({"vi": 100, "en": 1_000, "zh": 50}, {"vi": 1.0, "en": 0.25})
    assert fractions == pytest.approx({"vi": 1.0, "en": 0.025, "zh": 0.0})


def test_fraction_mode_takes_a_share_of_each_dataset():
    counts = {"pt": 7_000, "hr": 6_900, "da": 4_400}
    fractions = mixture_fractions(counts, {"pt": 0.25, "hr": 0.25, "da": 1.0}, mode="fraction")
    assert fractions == pytest.approx({"pt": 0.25, "hr": 0.25, "da": 1.0})
    assert mixture_fractions(counts, {"da": 2.0}, mode="fraction") == pytest.approx({"pt": 0, "hr": 0, "da": 2.0})


@pytest.mark.parametrize("counts, weights, kwargs, message", [
    ({"a": 10, "b": 10}, {"a": 1.0, "b": -0.5}, {}, ">= 0"),
    ({"a": 10, "b": 10}, {"a": 1.0, "b": float("inf")}, {}, ">= 0"),
    ({"a": 10}, {"a": 1.0, "c": 0.5}, {}, "unknown dataset 'c'"),
    ({"a": 10, "b": 10}, {"a": 0.0, "b": 0.0}, {}, "at least one weight"),
    ({"a": 10, "b": 0}, {"a": 1.0, "b": 0.5}, {}, "'b' has weight > 0 but no examples"),
    ({"a": 10, "b": -1}, {"a": 1.0}, {}, "integer >= 0"),
    ({}, {}, {}, "no datasets"),
    ({"a": 10}, {"a": 1.0}, {"mode": "mixed"}, "proportional, absolute"),
    ({"a": 10}, {"a": 1.0}, {"total": 0}, "> 0"),
    ({"a": 10}, {"a": 1.0}, {"total": 5, "mode": "fraction"}, "not used in fraction mode"),
    ({"a": 10, "b": 10}, {"a": 0.5, "b": 0.5}, {"mode": "absolute"}, "exactly one dataset with weight 1.0"),
    ({"a": 10, "b": 10}, {"a": 1.0, "b": 1.0}, {"mode": "absolute"}, "exactly one dataset with weight 1.0"),
])
def test_bad_mixtures(counts, weights, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        mixture_fractions(counts, weights, **kwargs)


# --- sampling -------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.3, 1.0, 1.5, 2.25])
def test_sample_size_follows_the_fraction(fraction):
    sample = sample_ids(IDS, fraction, seed=1)
    assert abs(len(sample) - fraction * len(IDS)) <= 0.015 * len(IDS)
    copies = Counter(sample)
    assert set(copies.values()) <= {math.floor(fraction), math.floor(fraction) + 1}
    assert set(copies) <= set(IDS)


def test_sample_is_per_id_and_independent_of_order():
    shuffled = IDS[:]
    random.Random(5).shuffle(shuffled)
    assert Counter(sample_ids(shuffled, 0.4, seed=3)) == Counter(sample_ids(IDS, 0.4, seed=3))
    kept = set(sample_ids(IDS, 0.4, seed=3))
    assert all(sample_count(i, 0.4, seed=3) == (i in kept) for i in IDS)


def test_seed_changes_the_sample_and_sample_is_independent_of_split():
    first, second = set(sample_ids(IDS, 0.5, seed=1)), set(sample_ids(IDS, 0.5, seed=2))
    assert 0.4 < len(first & second) / len(first) < 0.6
    train = [i for i in IDS if assign_split(i) == "train"]
    assert abs(len(sample_ids(train, 0.5, seed=1)) / len(train) - 0.5) < 0.03


@pytest.mark.parametrize("fraction", [-0.1, float("nan"), "half", True])
def test_bad_fraction(fraction):
    with pytest.raises(ConfigError, match="fraction"):
        sample_count("x", fraction)


def test_mixture_and_sampling_together():
    datasets = {"target": IDS[:2_000], "ood": IDS[2_000:]}
    fractions = mixture_fractions({name: len(ids) for name, ids in datasets.items()}, {"target": 1.0, "ood": 0.5},
                                  mode="absolute")
    sizes = {name: len(sample_ids(ids, fractions[name], seed=9)) for name, ids in datasets.items()}
    assert sizes["target"] == 2_000
    assert abs(sizes["ood"] - 1_000) < 60
