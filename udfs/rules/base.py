"""The rule-extractor interface and the registry of named extractors.

An extractor is built once per Python worker from its config and then called for every
record: ``extract(doc)`` returns spans whose offsets index ``doc.text`` (the original),
never ``doc.norm``; use ``doc.to_original`` to map matches found on ``doc.norm``.
"""
from __future__ import annotations

from typing import Protocol

from ..registry import Registry
from ..spans import Span
from ..textnorm import Doc


class RuleExtractor(Protocol):
    name: str
    labels: tuple[str, ...]

    def extract(self, doc: Doc) -> list[Span]: ...


# name -> factory(options: dict) -> RuleExtractor
RULE_FACTORIES: Registry = Registry("rule extractor")
# Decorator: ``@register_rule("phone")`` on a factory taking the extractor's options.
register_rule = RULE_FACTORIES.register
