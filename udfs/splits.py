"""Deterministic train/dev/test splits, dataset mixtures and hash-based sampling.

Everything here depends only on an example's id (and a salt or seed), never on the order
or partitioning of the data, so a Spark job gets the same answer per row on any cluster,
and a re-run gets the same answer as last night.

The hash (``unit_hash``), exactly::

    u(key) = int.from_bytes(sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64

a float in [0, 1): the first 8 bytes of the SHA-1 of the UTF-8 key, read as a big-endian
unsigned 64-bit integer, divided by 2**64 in double precision. In Spark SQL the same double
is ``CAST(conv(substr(sha1(key), 1, 16), 16, 10) AS DOUBLE) / 18446744073709551616D``
(``split_sql`` writes the whole expression for a split).

- Split of an example: key = ``salt + example_id``; the split is the first one, in the order
  of ``ratios``, whose cumulative ratio (a running float sum in that order) is > u; the last
  split takes whatever rounding leaves over.
- Sampling: key = ``f"sample:{seed}:{example_id}"`` (its own prefix, so that which examples
  a sample keeps is independent of their split). An example is kept ``floor(fraction)``
  times, plus once more when u < ``fraction - floor(fraction)``.
"""
from __future__ import annotations

import hashlib
import math
from functools import lru_cache

from .config import ConfigError

DEFAULT_RATIOS = {"train": 0.8, "dev": 0.1, "test": 0.1}
_TWO_64 = float(2 ** 64)
_RATIO_TOLERANCE = 1e-9


def unit_hash(key: str) -> float:
    """The documented hash of ``key``: a float in [0, 1), the same in every process."""
    digest = hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") / _TWO_64


# --- splits ---------------------------------------------------------------------------


def assign_split(example_id: str, ratios: dict[str, float] | None = None, salt: str = "") -> str:
    """The split of ``example_id`` (see the module docstring for the exact rule).

    ``ratios`` maps split names to fractions summing to 1 (default 80/10/10 train/dev/test);
    their order matters. Change ``salt`` to draw a different, equally stable, split.
    """
    if not isinstance(example_id, str):
        raise TypeError(f"example_id must be a string, got {type(example_id).__name__}")
    names, bounds = _split_bounds(tuple((ratios or DEFAULT_RATIOS).items()))
    u = unit_hash(salt + example_id)
    for name, bound in zip(names, bounds):
        if u < bound:
            return name
    return names[-1]


@lru_cache(maxsize=64)
def _split_bounds(items: tuple[tuple[str, float], ...]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Split names and their cumulative upper bounds, validated once per distinct ratios."""
    if not items:
        raise ConfigError("split ratios: at least one split is needed")
    total, names, bounds = 0.0, [], []
    for name, ratio in items:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"split ratios: split names must be non-empty strings, got {name!r}")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio < 0:
            raise ConfigError(f"split ratios: {name}: {ratio!r} is not allowed; must be a number >= 0")
        total += ratio
        names.append(name)
        bounds.append(total)
    if abs(total - 1.0) > _RATIO_TOLERANCE:
        raise ConfigError(f"split ratios: must sum to 1, got {total!r} ({dict(items)})")
    return tuple(names), tuple(bounds)


def split_sql(id_column: str, ratios: dict[str, float] | None = None, salt: str = "") -> str:
    """A Spark SQL expression giving the same split as ``assign_split`` for each row.

    ``id_column`` is inserted as written (quote it with backticks if it needs quoting).
    A NULL id gives a NULL split.
    """
    names, bounds = _split_bounds(tuple((ratios or DEFAULT_RATIOS).items()))
    key = f"concat({_sql_string(salt)}, CAST({id_column} AS STRING))" if salt else f"CAST({id_column} AS STRING)"
    u = f"(CAST(conv(substr(sha1({key}), 1, 16), 16, 10) AS DOUBLE) / 18446744073709551616D)"
    whens = " ".join(f"WHEN {u} < {bound!r}D THEN {_sql_string(name)}" for name, bound in zip(names[:-1], bounds))
    return f"CASE WHEN {id_column} IS NULL THEN NULL {whens} ELSE {_sql_string(names[-1])} END"


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- mixtures -------------------------------------------------------------------------


def mixture_fractions(counts: dict[str, int], weights: dict[str, float], total: float | None = None,
                      mode: str = "proportional") -> dict[str, float]:
    """Sampling fraction per dataset so that the mixed training set follows ``weights``.

    ``counts`` is the number of examples of each dataset; a dataset of ``counts`` missing
    from ``weights`` gets fraction 0 (it is listed, not left out). The result is meant for
    ``sample_ids``/``sample_count``: a fraction above 1 repeats examples (sampling with
    replacement, spread evenly: every example ``floor(f)`` times, some once more).

    ``mode="proportional"``: weights are shares of the mixture (only their ratios matter).
    The mixture has ``total`` examples; without ``total``, the largest mixture that repeats
    no example (the scarcest dataset, relative to its share, is used whole).

    ``mode="absolute"``: a weight is an amount relative to one unit: ``total`` examples if
    given, else the size of the one dataset whose weight is exactly 1. The recipes:
    "add 50 % out-of-domain data to a small target domain" is ``{target: 1.0, ood: 0.5}``
    (OOD repeated if it has fewer than half as many examples as the target), "target
    language mixed with a quarter as much English" is ``{vi: 1.0, en: 0.25}``. In
    proportional mode the same weights give the same fractions whenever the weight-1
    dataset is the scarce one; otherwise proportional mode shrinks it instead of repeating
    the other.

    ``mode="fraction"``: a weight is a share of the dataset's own examples: 1.0 all of them
    once, 0.25 a quarter, 2.0 each twice. "Several corpora in full, then a quarter of each
    again next to a new one" needs no unit dataset.
    """
    _check_counts(counts)
    unknown = sorted(set(weights) - set(counts))
    if unknown:
        raise ConfigError(f"mixture weights: unknown dataset {unknown[0]!r}; datasets: {', '.join(sorted(counts))}")
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"mixture weights: {name}: {weight!r} is not allowed; must be a number >= 0")
    used = {name: float(w) for name, w in weights.items() if w > 0}
    if not used:
        raise ConfigError("mixture weights: at least one weight must be > 0")
    empty = sorted(name for name in used if counts[name] == 0)
    if empty:
        raise ConfigError(f"mixture weights: dataset {empty[0]!r} has weight > 0 but no examples")
    if total is not None and (isinstance(total, bool) or not isinstance(total, (int, float))
                              or not math.isfinite(total) or total <= 0):
        raise ConfigError(f"mixture total: {total!r} is not allowed; must be a number > 0")

    if mode == "proportional":
        if total is None:
            scale = min(counts[name] / w for name, w in used.items())
            # by construction no fraction exceeds 1; min() absorbs the float rounding of w * c / w
            return {name: (min(1.0, used[name] * scale / count) if name in used else 0.0)
                    for name, count in counts.items()}
        weight_sum = sum(used.values())
        wanted = {name: total * w / weight_sum for name, w in used.items()}
    elif mode == "absolute":
        if total is not None:
            unit = total
        else:
            units = sorted(name for name, w in used.items() if w == 1.0)
            if len(units) != 1:
                raise ConfigError("mixture weights: absolute mode needs `total` or exactly one dataset with weight 1.0"
                                  f" (the unit); got {units or 'none'}")
            unit = counts[units[0]]
        wanted = {name: w * unit for name, w in used.items()}
    elif mode == "fraction":
        if total is not None:
            raise ConfigError("mixture total: not used in fraction mode (each weight is a share of its own dataset)")
        wanted = {name: w * counts[name] for name, w in used.items()}
    else:
        raise ConfigError(f"mixture mode: {mode!r} is not allowed; choose one of proportional, absolute, fraction")
    return {name: (wanted[name] / counts[name] if name in wanted else 0.0) for name in counts}


def _check_counts(counts: dict[str, int]) -> None:
    if not counts:
        raise ConfigError("mixture counts: no datasets given")
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConfigError(f"mixture counts: {name}: {count!r} is not allowed; must be an integer >= 0")


# --- sampling -------------------------------------------------------------------------


def sample_count(example_id: str, fraction: float, seed: int | str = 0) -> int:
    """How many times ``example_id`` is in a sample of ``fraction`` (0, 1, 2, ...).

    The per-row form of ``sample_ids``, for a Spark UDF or the SQL of the module docstring.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction) \
            or fraction < 0:
        raise ConfigError(f"sample fraction: {fraction!r} is not allowed; must be a number >= 0")
    whole = math.floor(fraction)
    rest = fraction - whole
    if rest == 0:
        return whole
    return whole + (unit_hash(f"sample:{seed}:{example_id}") < rest)


def sample_ids(ids, fraction: float, seed: int | str = 0) -> list[str]:
    """A deterministic sample of ``ids``, in their order, about ``fraction * len(ids)`` long.

    With ``fraction`` > 1 ids repeat (see ``sample_count``), consecutively.
    """
    return [example_id for example_id in ids for _ in range(sample_count(example_id, fraction, seed))]
