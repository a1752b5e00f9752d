"""Per-dataset label maps: corpus entity types -> standardised names -> core types.

A map (``conf/label_maps/<name>.yaml``) has two tables:

- ``standard``: every entity type the corpus uses -> its standardised name: the project's
  label where one fits (``organisation``/``corporation``/``group`` -> ``ORG``, ``person`` ->
  ``PER``, ``product`` -> ``PRODUCT``), else an upper-case name of the type itself
  (``politician`` -> ``POLITICIAN``). Keys match case-, space-, ``_``- and ``-``-insensitively
  ("creative-work" = "Creative Work" = "CREATIVE_WORK").
- ``core``: standardised names -> ``PER`` / ``LOC`` / ``ORG`` (``POLITICIAN: PER``,
  ``BAND: ORG``, ``COUNTRY: LOC``). ``PER``/``LOC``/``ORG`` map to themselves; every other
  standardised name becomes ``other``: ``MISC`` or ``drop`` (the tokens become ``O``).

A type missing from ``standard`` is UNKNOWN: :func:`map_labels` counts it and, with
``strict=True``, raises :class:`UnknownLabelError`; with ``strict=False`` its tokens become
``O`` and the counter tells the job what was left out. Map labels after BIO repair: mapping
can merge two types into one and hide an invalid ``B-Y I-X`` transition.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .bio import parse_label
from .config import ConfigError, from_dict
from .labels import CORE_LABELS

LEVELS = ("standard", "core")
OTHER_CHOICES = ("MISC", "drop")
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_KEY_SEPARATORS = re.compile(r"[\s_\-]+")


class UnknownLabelError(ValueError):
    """Labels the map does not know; ``.counts`` holds how often each was seen."""

    def __init__(self, map_name: str, counts: Counter):
        self.counts = counts
        listed = ", ".join(f"{label} ({n})" for label, n in counts.most_common())
        super().__init__(f"label map {map_name!r} does not know: {listed}")


def label_key(label: str) -> str:
    """How labels are matched: case-folded, with spaces, ``_`` and ``-`` removed."""
    return _KEY_SEPARATORS.sub("", label).casefold()


def _standard_names(table: dict) -> bool:
    return all(isinstance(v, str) and _NAME_RE.match(v) for v in table.values())


def _core_targets(table: dict) -> bool:
    return all(v in CORE_LABELS for v in table.values())


@dataclass
class LabelMapSpec:
    """The YAML schema of one label map."""
    name: str
    standard: dict[str, str] = field(metadata={
        "check": lambda t: bool(t) and _standard_names(t),
        "help": "a non-empty mapping to upper-case names such as PER, ORG, POLITICIAN"})
    core: dict[str, str] = field(default_factory=dict, metadata={
        "check": _core_targets, "help": f"a mapping of standardised names to one of {', '.join(CORE_LABELS)}"})
    other: str = field(default="MISC", metadata={"choices": list(OTHER_CHOICES)})
    description: str = ""


class LabelMap:
    """A validated label map with per-level lookup tables of BIO tags, built once."""

    def __init__(self, spec: LabelMapSpec):
        self.name = spec.name
        self.other = spec.other
        self.description = spec.description
        self.standard: dict[str, str] = {}  # label_key(corpus type) -> standardised name
        for raw, std in spec.standard.items():
            key = label_key(raw)
            if key in self.standard and self.standard[key] != std:
                raise ConfigError(f"label map {self.name!r}: standard.{raw} collides with another key "
                                  f"spelled differently ({self.standard[key]} vs {std})")
            self.standard[key] = std
        names = set(self.standard.values())
        stray = sorted(set(spec.core) - names)
        if stray:
            raise ConfigError(f"label map {self.name!r}: core.{stray[0]} is not a standardised name of this map")
        self.core = {name: name if name in CORE_LABELS else spec.core.get(name) for name in names}
        self._tag_tables: dict[tuple[str, bool], dict[str, str | None]] = {}

    def type_for(self, label: str, level: str = "standard") -> str | None:
        """Mapped entity type of ``label`` (a type, not a BIO tag): a name, ``None`` for a type
        dropped at the core level; raises ``KeyError`` for an unknown type."""
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
        std = self.standard[label_key(label)]
        if level == "standard":
            return std
        core = self.core[std]
        if core is not None:
            return core
        return None if self.other == "drop" else "MISC"

    def relabel_standard(self, level: str) -> dict[str, str | None]:
        """Standardised name -> its name at ``level`` (None: dropped), for examples already
        stored at the standard level (what ``nerlake train`` maps per phase)."""
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
        if level == "standard":
            return {name: name for name in self.core}
        other = None if self.other == "drop" else "MISC"
        return {name: core if core is not None else other for name, core in self.core.items()}

    def tag_table(self, level: str, collapse_groups: bool) -> dict[str, str | None]:
        """Cache of BIO tag -> mapped BIO tag (None: unknown), filled as tags are met."""
        return self._tag_tables.setdefault((level, collapse_groups), {"O": "O"})

    def __repr__(self) -> str:
        return f"LabelMap({self.name!r}, {len(self.standard)} types, other={self.other!r})"


def _label_maps_dir():
    return resources.files("nerlake.conf") / "label_maps"


def available_label_maps() -> list[str]:
    return sorted(p.name[:-5] for p in _label_maps_dir().iterdir() if p.name.endswith(".yaml"))


def load_label_map(name_or_path: str | Path, other: str | None = None) -> LabelMap:
    """The packaged map ``name`` (``conf/label_maps/<name>.yaml``) or a YAML file path.
    ``other`` overrides the map's ``other`` (``MISC`` or ``drop``)."""
    spec = _load_spec(str(name_or_path))
    if other is not None:
        if other not in OTHER_CHOICES:
            raise ConfigError(f"other: {other!r} is not allowed; choose one of {', '.join(OTHER_CHOICES)}")
        spec = dataclasses.replace(spec, other=other)
    return LabelMap(spec)


@lru_cache(maxsize=64)
def _load_spec(name_or_path: str) -> LabelMapSpec:
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"label map file {path} does not exist")
        raw, where = path.read_text(encoding="utf-8"), str(path)
    else:
        res = _label_maps_dir() / f"{name_or_path}.yaml"
        if not res.is_file():
            raise ConfigError(f"unknown label map {name_or_path!r}; packaged maps: {', '.join(available_label_maps())}")
        raw, where = res.read_text(encoding="utf-8"), f"conf/label_maps/{name_or_path}.yaml"
    data = yaml.safe_load(raw)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    try:
        return from_dict(LabelMapSpec, data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _map_tag(tag: str, label_map: LabelMap, level: str, to_group: dict[str, str] | None) -> str | None:
    state, etype = parse_label(tag)
    if state == "O":
        return "O"
    try:
        mapped = label_map.type_for(etype, level)
    except KeyError:
        return None
    if mapped is None:
        return "O"
    if to_group:
        mapped = to_group.get(mapped, mapped)
    return f"{state}-{mapped}"


def map_labels(labels: list[str], label_map: LabelMap, level: str = "standard", *,
               strict: bool = True, collapse_groups: bool = False,
               groups: dict | None = None) -> tuple[list[str], Counter]:
    """BIO ``labels`` with every entity type mapped, and a ``Counter`` of unknown types.

    ``level``: ``standard`` or ``core``. ``collapse_groups``: also replace fine labels by their
    group (``CHEST`` -> ``BODY_MEASUREMENT``, ``conf/label_groups.yaml``, or ``groups``).
    ``strict``: unknown types raise :class:`UnknownLabelError`; otherwise their tokens become
    ``O`` and are counted. Bad BIO labels raise ``BIOError``.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    table = label_map.tag_table(level, collapse_groups) if groups is None else {"O": "O"}
    to_group = _group_lookup(groups) if collapse_groups else None
    out, unknown = [], Counter()
    for tag in labels:
        mapped = table.get(tag, False)
        if mapped is False:
            mapped = table[tag] = _map_tag(tag, label_map, level, to_group)
        if mapped is None:
            unknown[tag[2:]] += 1
            mapped = "O"
        out.append(mapped)
    if unknown and strict:
        raise UnknownLabelError(label_map.name, unknown)
    return out, unknown


def _group_lookup(groups: dict | None) -> dict[str, str]:
    if groups is None:
        return _packaged_group_lookup()
    return {fine: group for group, fines in groups.items() for fine in fines}


@lru_cache(maxsize=1)
def _packaged_group_lookup() -> dict[str, str]:
    from .merge import collapse_labels, load_label_groups

    groups = load_label_groups()
    fines = [fine for fine_map in groups.values() for fine in fine_map]
    # collapse_labels is the merge step's own rule: ask it, so training and merge agree
    return dict(zip(fines, collapse_labels(fines, groups)))


def map_example(example, label_map: LabelMap, level: str = "standard", *, strict: bool = True,
                collapse_groups: bool = False, groups: dict | None = None):
    """``(Example with mapped labels and recomputed spans, Counter of unknown types)``."""
    labels, unknown = map_labels(example.labels, label_map, level, strict=strict,
                                 collapse_groups=collapse_groups, groups=groups)
    if labels == example.labels:
        return example, unknown
    return dataclasses.replace(example, labels=labels, spans=[]), unknown
