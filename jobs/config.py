"""Job configuration: packaged YAML defaults, overlays, ``--conf`` files and ``--set`` overrides.

Layers are deep-merged in this order, later wins:
  1. ``conf/defaults.yaml`` (shipped with the package)
  2. the profile overlay ``conf/<profile>.yaml`` (``--profile``, default ``local``)
  3. each ``--conf FILE`` in the order given
  4. each ``--set dotted.key=value`` (the value is parsed as YAML: numbers, booleans, lists)
The merged mapping is validated into :class:`JobConfig` before Spark starts: an unknown key
or a bad value raises ``ConfigError`` naming the dotted key and what is allowed.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from importlib import resources
from pathlib import Path

import yaml

from ..udfs.config import ConfigError, from_dict
from ..udfs.merge import MergeConfig
from ..udfs.ner import NerConfig
from ..udfs.rules.ruleset import RulesConfig
from .lake import WRITERS

INPUT_FORMATS = ("auto", "parquet", "delta", "jsonl", "csv")
PROFILES = ("local", "cluster", "none")


def _positive(v) -> bool:
    return v > 0


def _non_negative(v) -> bool:
    return v >= 0


@dataclass
class SparkConfig:
    master: str = "local[2]"  # used only when spark-submit did not set a master
    app_name: str = "nerlake"
    log_level: str = field(default="WARN", metadata={"choices": ["ALL", "DEBUG", "INFO", "WARN", "ERROR", "OFF"]})
    conf: dict[str, str] = field(default_factory=dict)  # any spark.* setting, passed to the builder


@dataclass
class LakeConfig:
    root: str = "./lakehouse"  # local path or a URI (s3://, abfss://, gs://, hdfs://)
    writer: str = field(default="auto", metadata={"choices": list(WRITERS)})


@dataclass
class InputConfig:
    path: str | None = None  # required by extract (or --input)
    format: str = field(default="auto", metadata={"choices": list(INPUT_FORMATS)})
    id_column: str = "id"
    text_column: str = "text"
    date_column: str | None = "created_at"  # the record's own date, for relative dates; null: the run date
    # input columns copied into entity rows when present (the entities schema has these two)
    passthrough: list[str] = field(default_factory=lambda: ["lang", "domain"], metadata={"choices": ["lang", "domain"]})
    options: dict[str, str] = field(default_factory=dict)  # reader options, e.g. {"sep": ";"} for CSV


@dataclass
class ExtractConfig:
    max_chars: int = field(default=20_000, metadata={"check": _positive, "help": "> 0"})
    preview_chars: int = field(default=120, metadata={"check": _non_negative, "help": ">= 0"})
    partitions: int = field(default=0, metadata={"check": _non_negative, "help": ">= 0 (0: 2 x default parallelism)"})
    arrow_batch_size: int = field(default=1024, metadata={"check": _positive, "help": "> 0"})
    max_rows_per_file: int = field(default=1_000_000, metadata={"check": _positive, "help": "> 0"})
    rules: bool = True
    ner: bool = True
    progress: bool = True


@dataclass
class ModelConfig:
    path: str | None = None  # a model directory; wins over name
    # a model in the lake's models registry (nerlake export registers them), else the packaged
    # model of that name (models/<name>); null: the packaged default, vi-domain
    name: str | None = None
    version: str = "latest"  # "latest" or a pinned version of model.name


def _ratios_sum_to_one(v) -> bool:
    return bool(v) and all(x >= 0 for x in v.values()) and abs(sum(v.values()) - 1.0) < 1e-9


@dataclass
class IngestConfig:
    data_root: str | None = None  # the shared corpora; null: $NERLAKE_SHARED_DATA, else ../shared/data
    registry: str | None = None  # dataset registry YAML; null: the packaged conf/datasets.yaml
    repair: str = field(default="begin", metadata={"choices": ["begin", "discard"]})
    label_level: str = field(default="standard", metadata={"choices": ["standard", "core", "none"]})
    # corpora without a dev split (and generated samples) are split by a hash of example_id
    split_ratios: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "dev": 0.1, "test": 0.1},
                                           metadata={"check": _ratios_sum_to_one, "help": "non-negative, summing to 1"})
    sample_dataset: str = "vi_generated"
    sample_chunk: int = field(default=20_000, metadata={"check": _positive, "help": "> 0"})
    max_rows_per_file: int = field(default=500_000, metadata={"check": _positive, "help": "> 0"})


@dataclass
class JobConfig:
    spark: SparkConfig = field(default_factory=SparkConfig)
    lake: LakeConfig = field(default_factory=LakeConfig)
    input: InputConfig = field(default_factory=InputConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    ner: NerConfig = field(default_factory=NerConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    merge: MergeConfig = field(default_factory=MergeConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    # nerlake generate-annotations: keys of udfs.llm_annotate.AnnotationConfig over conf/annotation.yaml
    annotation: dict[str, Any] = field(default_factory=dict)
    # nerlake filter-generated: keys of udfs.generated_filters.FilterConfig
    generated: dict[str, Any] = field(default_factory=dict)
    # nerlake augment: keys of udfs.augment.AugmentConfig over conf/augment.yaml
    augment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def conf_hash(self) -> str:
        """Stable hash of the effective configuration, recorded in every run."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _packaged(name: str) -> dict:
    text = (resources.files("nerlake.conf") / name).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_set(assignment: str) -> dict:
    """``a.b.c=value`` -> ``{"a": {"b": {"c": value}}}`` with the value parsed as YAML."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects dotted.key=value, got {assignment!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node: dict = {}
    cursor = node
    parts = key.strip().split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return node


def load_config(conf_files=(), overrides=(), profile: str = "local") -> JobConfig:
    if profile not in PROFILES:
        raise ConfigError(f"--profile {profile!r} is not allowed; choose one of {', '.join(PROFILES)}")
    merged = _packaged("defaults.yaml")
    if profile != "none":
        merged = deep_merge(merged, _packaged(f"{profile}.yaml"))
    for path in conf_files:
        merged = deep_merge(merged, read_yaml(path))
    for assignment in overrides:
        merged = deep_merge(merged, parse_set(assignment))
    cfg = from_dict(JobConfig, merged)
    _check_component_keys(cfg)
    return cfg


def _check_component_keys(cfg: JobConfig) -> None:
    """Sections handed to components as mappings are checked here too, before Spark starts."""
    from ..udfs.generated_filters import FilterConfig
    from ..udfs.llm_annotate import AnnotationConfig

    allowed = {f.name for f in fields(AnnotationConfig)}
    unknown = sorted(set(cfg.annotation) - allowed)
    if unknown:
        raise ConfigError(f"unknown key annotation.{unknown[0]}; allowed keys under annotation: {', '.join(sorted(allowed))}")
    from_dict(FilterConfig, cfg.generated, prefix="generated")
    from ..udfs.rules.ruleset import RuleSet

    RuleSet.from_config(cfg.rules)  # unknown extractors and bad options fail here, not on executors
    from ..udfs.augment import AugmentConfig

    allowed = {f.name for f in fields(AugmentConfig)}
    unknown = sorted(set(cfg.augment) - allowed)
    if unknown:
        raise ConfigError(f"unknown key augment.{unknown[0]}; allowed keys under augment: {', '.join(sorted(allowed))}")
