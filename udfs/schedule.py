"""Training schedules: phases run one after the other, each starting from the previous
phase's best model.

A schedule is YAML (``conf/recipes/*.yaml``) or built from ``nerlake train``'s flags (one
phase). Each phase names its datasets with mixing weights, its epochs and learning rate,
and the label level its examples train at. The schedule expresses:

- two-phase training: standard data, then augmented data (``vi_generated`` then
  ``vi_generated_aug``);
- two-stage or progressive transfer: English open-domain data first, then the target
  language mixed with a quarter as much English (``{target: 1.0, english: 0.25}``), or
  high-resource languages first and low-resource ones next;
- domain mixing: one phase over several domains with per-domain weights.

``label_level``: examples are stored at the standard level (``nerlake ingest``); ``core``
maps each dataset's standardised names to PER/LOC/ORG with that dataset's label map
(``other``: the rest becomes MISC or is dropped). Fine labels train as their label group
(``conf/label_groups.yaml``, the merge step's map) unless ``collapse_groups`` is false.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .config import ConfigError, from_dict

SAMPLE_DATASET_MAP = "nerlake"  # label map of the generator's gold (dataset vi_generated)
AUGMENTED_SUFFIX = "_aug"


def _weights_ok(weights: dict) -> bool:
    return bool(weights) and all(w >= 0 for w in weights.values()) and any(w > 0 for w in weights.values())


@dataclass
class Phase:
    name: str = field(metadata={"check": lambda v: bool(v) and "/" not in v and not v.startswith("."),
                                "help": "a non-empty name usable as a folder name"})
    datasets: dict[str, float] = field(metadata={
        "check": _weights_ok, "help": "a non-empty mapping of training_examples datasets to weights >= 0, one > 0"})
    epochs: int = field(default=1, metadata={"check": lambda v: v > 0, "help": "> 0"})
    lr: float = field(default=5e-4, metadata={"check": lambda v: v > 0, "help": "> 0"})
    label_level: str = field(default="standard", metadata={"choices": ["standard", "core"]})
    other: str = field(default="drop", metadata={"choices": ["drop", "MISC"]})  # core level only
    collapse_groups: bool = True
    # dev datasets for early stopping and the phase's dev F1; default: the phase's datasets
    dev: list[str] | None = None
    max_steps_per_epoch: int | None = field(default=None, metadata={"check": lambda v: v > 0, "help": "> 0"})
    o_weight: float | None = field(default=None, metadata={"check": lambda v: v > 0, "help": "> 0"})
    patience: int | None = field(default=None, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    warmup_fraction: float | None = field(default=None, metadata={"check": lambda v: 0 <= v < 1,
                                                                  "help": "in [0, 1)"})

    def train_datasets(self) -> dict[str, float]:
        return {name: w for name, w in self.datasets.items() if w > 0}

    def dev_datasets(self) -> list[str]:
        return sorted(self.dev if self.dev is not None else self.train_datasets())


@dataclass
class Schedule:
    phases: list[Phase] = field(metadata={"check": bool, "help": "a non-empty list of phases"})
    # scratch:<preset> or a model directory (a nerlake pretrain or train output, or an HF checkpoint)
    model: str = "scratch:tiny"
    name: str = "nerlake-ner"
    version: str = "0.0.1"
    languages: list[str] = field(default_factory=lambda: ["vi"])
    description: str = ""
    max_length: int = field(default=128, metadata={"check": lambda v: v >= 8, "help": ">= 8"})
    batch_size: int = field(default=16, metadata={"check": lambda v: v > 0, "help": "> 0"})  # per rank
    o_weight: float = field(default=1.0, metadata={"check": lambda v: v > 0, "help": "> 0"})
    patience: int = field(default=2, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    warmup_fraction: float = field(default=0.1, metadata={"check": lambda v: 0 <= v < 1, "help": "in [0, 1)"})
    dropout: float = field(default=0.1, metadata={"check": lambda v: 0 <= v < 1, "help": "in [0, 1)"})
    vocab_size: int = field(default=8000, metadata={"check": lambda v: v >= 100, "help": ">= 100"})
    # udfs.splits.mixture_fractions: "absolute": amounts relative to the one dataset of weight 1;
    # "proportional": shares of the mixture; "fraction": shares of each dataset's own examples
    mixing: str = field(default="absolute", metadata={"choices": ["absolute", "proportional", "fraction"]})
    seed: int = 0
    card: dict = field(default_factory=dict)  # model card entries: intended use, limitations, recipe

    def __post_init__(self):
        names = [p.name for p in self.phases]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"phases: the phase name {twice[0]!r} is used twice")

    def all_train_datasets(self) -> list[str]:
        return sorted({d for p in self.phases for d in p.train_datasets()})


def load_schedule(path, overrides: dict | None = None) -> Schedule:
    """The schedule in YAML file ``path``; ``overrides`` replace top-level keys."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--schedule: no file {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    data.update(overrides or {})
    try:
        return from_dict(Schedule, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def label_map_of(dataset: str, registry: dict) -> str:
    """The label map of a ``training_examples`` dataset: the registry's, the generator's for
    ``vi_generated``, the source dataset's for ``<dataset>_aug``."""
    base = dataset[:-len(AUGMENTED_SUFFIX)] if dataset.endswith(AUGMENTED_SUFFIX) else dataset
    spec = registry.get(base)
    if spec is not None:
        return spec.label_map
    return SAMPLE_DATASET_MAP


def relabel_tables(datasets, level: str, other: str, registry: dict) -> dict[str, dict[str, str | None]]:
    """dataset -> {standardised name: trained label or None (dropped)} for ``level``."""
    from .label_maps import load_label_map

    if level == "standard":
        return {}
    return {d: load_label_map(label_map_of(d, registry), other=other).relabel_standard(level) for d in datasets}


def relabel_spans(spans, table: dict[str, str | None] | None) -> list[dict]:
    """``spans`` with labels mapped by ``table`` (dropped where it maps to None); labels the
    table does not know are kept (they are reported, not lost, when the data was ingested)."""
    if not table:
        return list(spans)
    out = []
    for span in spans:
        label = table.get(span["label"], span["label"])
        if label is not None:
            out.append(dict(span, label=label))
    return out
