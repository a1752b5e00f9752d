"""LICENSE_PLATE: Vietnamese vehicle plates, normalised to "51F-123.45" / "29A1-234.56".

The province number must be in the table of ``conf/rules/license_plate.yaml``; the series
letters exclude those never used on plates (I, J, O, Q, W), which keeps product and
apartment codes out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import yaml

from ..config import ConfigError, from_dict
from ..spans import Span
from ..textnorm import Doc, fold
from .base import register_rule

NAME = "license_plate"
_MARKS = "\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"


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
    """YAML defaults (``conf_path`` or the packaged file) overlaid with the options dict."""
    options = dict(options or {})
    conf_path = options.pop("conf_path", None)
    source = Path(conf_path) if conf_path else files("nerlake.conf") / "rules" / f"{NAME}.yaml"
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"rules.options.{NAME}.conf_path: cannot read {source}: {exc}") from exc
    settings = from_dict(PlateSettings, {**data, **options}, prefix=f"rules.options.{NAME}")
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
        # The series digit is lazy so "51F12345" reads as F + 12345, not F1 + 2345. The leading
        # lookahead lets the engine skip non-digit positions quickly.
        self._pattern = re.compile(
            rf"(?=[0-9])(?<![\w.\-])(?P<province>[0-9]{{2}})-?(?P<series>{letter}{letter}?[0-9]??)"
            rf"[ .\-]?(?P<number>[0-9]{{3}}\.[0-9]{{2}}|[0-9]{{4,5}})(?![\w{_MARKS}]|[.,][0-9])",
            re.IGNORECASE,
        )
        words = sorted({fold(w) for w in settings.cue_words}, key=len, reverse=True)
        self._cues = re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, words)) + r")(?![a-z0-9])") if words else None

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        spans = []
        for m in self._pattern.finditer(text):
            if m.group("province") not in self._provinces:
                continue
            number = m.group("number").replace(".", "")
            if len(number) == 5:
                number = f"{number[:3]}.{number[3:]}"
            normalized = f"{m.group('province')}{m.group('series').upper()}-{number}"
            conf = self.settings.confidence
            score = conf.with_cue if self._has_cue(text, m.start()) else conf.base
            start, end = doc.to_original(*m.span())
            spans.append(Span(start, end, "LICENSE_PLATE", score=score, normalized=normalized, rule=NAME))
        return spans

    def _has_cue(self, text: str, start: int) -> bool:
        if self._cues is None:
            return False
        window = fold(text[max(0, start - self.settings.cue_window): start])
        return self._cues.search(window) is not None


@register_rule(NAME)
def build_license_plate(options: dict | None = None) -> LicensePlateExtractor:
    return LicensePlateExtractor(load_settings(options))
