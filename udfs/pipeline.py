"""Rules + ONNX NER + merge for a batch of records. Pure Python: no Spark here.

Components are built once per Python worker (Spark reuses workers, so one ONNX session
serves every task a worker runs) and reached only through :func:`get_pipeline`.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache

from .config import from_dict
from .merge import MergeConfig, merge_spans
from .rules.ruleset import RulesConfig, RuleSet
from .spans import Span, sort_spans
from .textnorm import make_doc


@dataclass
class PipelineSpec:
    """Everything an executor needs to build the pipeline; travels as JSON."""

    model_dir: str | None  # None: no model stage
    ner: dict = field(default_factory=dict)
    rules: dict | None = field(default_factory=dict)  # None: no rule stage
    merge: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class Pipeline:
    def __init__(self, spec: PipelineSpec):
        self.rules = RuleSet.from_config(from_dict(RulesConfig, spec.rules)) if spec.rules is not None else None
        self.ner = None
        if spec.model_dir is not None:
            from .ner import NerConfig, get_ner  # onnxruntime only where a model runs

            self.ner = get_ner(spec.model_dir, from_dict(NerConfig, spec.ner))
        self.merge_cfg = from_dict(MergeConfig, spec.merge)

    @property
    def model_name(self) -> str | None:
        return self.ner.model_name if self.ner else None

    @property
    def model_version(self) -> str | None:
        return self.ner.model_version if self.ner else None

    def run(self, texts: list[str], ref_dates: list[date | None], seconds: dict[str, float]) -> list[list[Span]]:
        """Entities for each text; adds the time spent per stage to ``seconds``."""
        t0 = time.perf_counter()
        # extract_many runs each extractor over a block of records: its patterns stay in cache.
        rule_spans = (self.rules.extract_many([make_doc(t, d) for t, d in zip(texts, ref_dates)]) if self.rules
                      else [[] for _ in texts])
        t1 = time.perf_counter()
        model_spans = self.ner.predict(texts) if self.ner else [[] for _ in texts]
        t2 = time.perf_counter()
        merged = [sort_spans(merge_spans(t, r, m, self.merge_cfg)) for t, r, m in zip(texts, rule_spans, model_spans)]
        t3 = time.perf_counter()
        for text, spans in zip(texts, merged):
            for span in spans:
                if span.end > len(text):
                    raise ValueError(f"span [{span.start}, {span.end}) is outside a text of {len(text)} characters")
        seconds["rules"] = seconds.get("rules", 0.0) + (t1 - t0)
        seconds["ner"] = seconds.get("ner", 0.0) + (t2 - t1)
        seconds["merge"] = seconds.get("merge", 0.0) + (t3 - t2)
        return merged


@lru_cache(maxsize=4)
def _cached_pipeline(spec_json: str) -> Pipeline:
    return Pipeline(PipelineSpec(**json.loads(spec_json)))


def get_pipeline(spec_json: str) -> Pipeline:
    """The worker's pipeline for this spec, built on first use."""
    return _cached_pipeline(spec_json)
