"""LICENSE_PLATE: Vietnamese vehicle plates, normalised to "51F-123.45" / "29A1-234.56".

The province number must be in the table of ``conf/rules/license_plate.yaml``; the series
letters exclude those never used on plates (I, J, O, Q, W), which keeps product and
apartment codes out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..config import ConfigError
from ..spans import Span
from ..textnorm import Doc
from .base import register_rule
from .common import COMBINING_MARKS, CueWords, digit_led_matches, load_rule_settings

NAME = "license_plate"


@dataclass
class PlateConfidence:
    base: float = 0.85
    with_cue: float = 0.97


@dataclass
class PlateSettings:
    provinces: dict[int, str] = field(default_factory=dict)
    series_letters: str = field(default="ABCDEFGHKLMNPRSTUVXYZ", metadata={
        "check": lambda v: bool(v) and v.isascii() and v.isalpha() and v.isupper(), "help": "upper-case ASCII letters"})
    cue_window: int = field(default=25, metadata={"check": lambda v: 0 <= v <= 200, "help": "0..200"})
    cue_words: list[str] = field(default_factory=list)
    confidence: PlateConfidence = field(default_factory=PlateConfidence)


def load_settings(options: dict | None) -> PlateSettings:
    """The YAML settings overlaid with ``options``, checked across fields."""
    settings = load_rule_settings(PlateSettings, NAME, options)
    bad = [p for p in settings.provinces if not 10 <= p <= 99]
    if bad or not settings.provinces:
        raise ConfigError(f"rules.options.{NAME}.provinces: need numbers 10-99, got {bad[:1] or 'an empty table'}")
    return settings


class LicensePlateExtractor:
    name = NAME
    labels = ("LICENSE_PLATE",)

    def __init__(self, settings: PlateSettings):
        self.settings = settings
        self._provinces = {f"{p:02d}" for p in settings.provinces}
        letter = f"[{settings.series_letters}]"
        # The series digit is lazy so "51F12345" reads as F + 12345, not F1 + 2345. The
        # province's first digit is consumed first (a pattern starting with a character class
        # lets the regex engine skip in C to the next digit); the province is then the first
        # two characters of the match.
        self._pattern = re.compile(
            rf"[0-9](?<![\w.\-][0-9])[0-9]-?(?P<series>{letter}{letter}?[0-9]??)"
            rf"[ .\-]?(?P<number>[0-9]{{3}}\.[0-9]{{2}}|[0-9]{{4,5}})(?![\w{COMBINING_MARKS}]|[.,][0-9])",
            re.IGNORECASE,
        )
        self._cues = CueWords(settings.cue_words, window=settings.cue_window)

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        spans = []
        for m in digit_led_matches(self._pattern, doc):
            province = text[m.start():m.start() + 2]
            if province not in self._provinces:
                continue
            number = m.group("number").replace(".", "")
            if len(number) == 5:
                number = f"{number[:3]}.{number[3:]}"
            normalized = f"{province}{m.group('series').upper()}-{number}"
            conf = self.settings.confidence
            score = conf.with_cue if self._cues.any_before(text, m.start()) else conf.base
            start, end = doc.to_original(*m.span())
            spans.append(Span(start, end, "LICENSE_PLATE", score, "rule", normalized, NAME))
        return spans


@register_rule(NAME)
def build_license_plate(options: dict | None = None) -> LicensePlateExtractor:
    return LicensePlateExtractor(load_settings(options))
