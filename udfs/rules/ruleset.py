"""RuleSet: builds the enabled rule extractors, runs them and resolves overlaps between them.

Overlaps between rule spans are resolved greedily: the longest span wins; on equal length
the label earlier in ``overlap_priority`` wins, then the higher score. A phone-looking digit
run inside an order code therefore goes to ORDER_CODE, a domain inside a URL to the URL.
"""
from __future__ import annotations

import gc
import logging
import sys
import unicodedata
from collections import Counter
from contextlib import contextmanager
from importlib.machinery import EXTENSION_SUFFIXES
from dataclasses import dataclass, field
from operator import attrgetter

from ..config import ConfigError, from_dict
from ..labels import LABELS
from ..spans import Span, sort_spans
from ..textnorm import Doc
from .base import RULE_FACTORIES

# Importing the extractor modules registers their factories.
from . import gazetteer, id_number, license_plate, order_code, phone, web  # noqa: F401,E402
from . import money, quantity, temporal  # noqa: F401,E402

log = logging.getLogger(__name__)
_START = attrgetter("start")

ALL_EXTRACTORS = (
    "phone", "id_number", "order_code", "email", "url", "license_plate",
    "gazetteer", "temporal", "money", "quantity",
)

DEFAULT_OVERLAP_PRIORITY = (
    "URL", "EMAIL", "ORDER_CODE", "ID_NUMBER", "PHONE", "LICENSE_PLATE",
    "MONEY", "DATE", "TIME", "DURATION", "QUANTITY", "ORG", "LOC",
)


def compiled_modules() -> list[str]:
    """The loaded nerlake modules that run compiled (an install built with NERLAKE_COMPILE=1,
    see setup.py); empty when the rule stage runs as pure Python."""
    suffixes = tuple(EXTENSION_SUFFIXES)
    return sorted(name for name, module in list(sys.modules.items())
                  if name.startswith("nerlake.") and str(getattr(module, "__file__", "")).endswith(suffixes))


def _known_labels(labels) -> bool:
    return all(label in LABELS for label in labels)


@dataclass
class RulesConfig:
    enabled: list[str] = field(default_factory=lambda: list(ALL_EXTRACTORS))
    options: dict[str, dict] = field(default_factory=dict)  # extractor name -> its options
    overlap_priority: list[str] = field(
        default_factory=lambda: list(DEFAULT_OVERLAP_PRIORITY),
        metadata={"check": _known_labels, "help": f"labels from {', '.join(LABELS)}"},
    )

    @classmethod
    def from_dict(cls, data: dict | None, prefix: str = "rules") -> "RulesConfig":
        return from_dict(cls, data, prefix=prefix)


@contextmanager
def _rare_collections(young_threshold: int = 20_000):
    """Run the block with the cyclic garbage collector's youngest generation collected every
    ``young_threshold`` allocations instead of CPython's default 700.

    The rule stage allocates millions of short-lived objects (matches, tuples, spans) that
    form no reference cycles: reference counting frees them, and a collection every ~10
    records only rescans them, about 3% of the stage. Cycles, if any, are still collected.
    """
    old = gc.get_threshold()
    if 0 < old[0] < young_threshold:  # 0: collection is off; leave it so
        gc.set_threshold(young_threshold, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


class RuleSet:
    """All enabled extractors, built once per worker; ``extract`` is called per record, or
    ``extract_many`` per batch of records (faster, same result)."""

    # Records that each extractor processes in turn in ``extract_many``: enough to keep
    # its working set in the CPU caches, few enough for the block's documents (and the
    # facts kept on them) to stay in the caches too.
    BLOCK_RECORDS = 512

    def __init__(self, extractors, overlap_priority):
        self.extractors = list(extractors)
        self._rank = {label: i for i, label in enumerate(overlap_priority)}
        self.labels = tuple(sorted({l for ex in self.extractors for l in ex.labels}, key=list(LABELS).index))
        # extractor name -> number of records on which it raised (it is then skipped for
        # that record only); the job reports these counters, tests assert they stay 0.
        self.error_counts: Counter = Counter()

    @classmethod
    def from_config(cls, cfg: RulesConfig | dict | None = None) -> "RuleSet":
        if cfg is None or isinstance(cfg, dict):
            cfg = RulesConfig.from_dict(cfg)
        allowed = ", ".join(sorted(RULE_FACTORIES))
        for name in cfg.enabled:
            if name not in RULE_FACTORIES:
                raise ConfigError(f"rules.enabled: unknown extractor {name!r}; allowed: {allowed}")
        for name in cfg.options:
            if name not in RULE_FACTORIES:
                raise ConfigError(f"rules.options: unknown extractor {name!r}; allowed: {allowed}")
        if len(set(cfg.enabled)) != len(cfg.enabled):
            raise ConfigError(f"rules.enabled: an extractor is listed twice: {cfg.enabled}")
        extractors = [RULE_FACTORIES[name](dict(cfg.options.get(name) or {})) for name in cfg.enabled]
        return cls(extractors, cfg.overlap_priority)

    def extract(self, doc: Doc) -> list[Span]:
        spans = []
        for extractor in self.extractors:
            try:
                spans += extractor.extract(doc)
            except Exception:  # one bad extractor must not lose the other extractors' spans
                self._failed(extractor, doc)
        return self.resolve_overlaps(spans, doc)

    def extract_many(self, docs) -> list[list[Span]]:
        """``[self.extract(doc) for doc in docs]``, computed faster.

        Each extractor runs over a block of records before the next one does: its patterns,
        automata and code then stay in the CPU caches, where running all extractors on one
        record after the other evicts them (the stage is ~1.2x slower so). The spans,
        their order and the error counts are those of ``extract``.
        """
        docs = list(docs)
        with _rare_collections():
            return self._extract_blocks(docs)

    def _extract_blocks(self, docs: list[Doc]) -> list[list[Span]]:
        results = []
        for first in range(0, len(docs), self.BLOCK_RECORDS):
            block = docs[first:first + self.BLOCK_RECORDS]
            found: list[list[Span]] = [[] for _ in block]
            for extractor in self.extractors:
                extract = extractor.extract
                for spans, doc in zip(found, block):
                    try:
                        spans += extract(doc)
                    except Exception:  # one bad extractor must not lose the other extractors' spans
                        self._failed(extractor, doc)
            results += [self.resolve_overlaps(spans, doc) for spans, doc in zip(found, block)]
        return results

    def extract_by_extractor(self, doc: Doc) -> dict[str, list[Span]]:
        """Raw spans of each extractor, before overlap resolution (for debugging and benchmarks)."""
        return {extractor.name: self._run(extractor, doc) for extractor in self.extractors}

    def _run(self, extractor, doc: Doc) -> list[Span]:
        try:
            return extractor.extract(doc)
        except Exception:  # one bad extractor must not lose the other extractors' spans
            self._failed(extractor, doc)
            return []

    def _failed(self, extractor, doc: Doc) -> None:
        """Count (and log the first few of) the records on which ``extractor`` raised."""
        self.error_counts[extractor.name] += 1
        if self.error_counts[extractor.name] <= 3:
            log.exception("rule extractor %s failed on a record of %d chars", extractor.name, len(doc.text))

    def resolve_overlaps(self, spans: list[Span], doc: Doc | None = None) -> list[Span]:
        """Non-overlapping spans in document order: longest first, then label priority, then score.

        Lengths count composed characters (``doc`` given), so decomposed input resolves the
        same way as composed input.
        """
        if len(spans) < 2:
            return list(spans)
        by_start = sorted(spans, key=_START)
        previous_end = 0
        for span in by_start:
            if span.start < previous_end:
                break
            previous_end = span.end
        else:
            return by_start  # the usual case: nothing to resolve
        if doc is None or len(doc.norm) == len(doc.text):
            length = attrgetter("length")
        else:
            def length(span):
                return len(unicodedata.normalize("NFC", doc.text[span.start:span.end]))
        unranked = len(self._rank)
        ordered = sorted(spans, key=lambda s: (-length(s), self._rank.get(s.label, unranked), -s.score, s.start))
        kept: list[Span] = []
        for span in ordered:
            if not any(span.overlaps(k) for k in kept):
                kept.append(span)
        return sort_spans(kept)
