"""ID_NUMBER: CCCD (12 digits, structure-checked) and CMND (9 digits, only after a cue word).

A CCCD's digits carry a province code, a gender/century digit and the birth year: a
12-digit number whose structure is impossible (unknown province, future birth, age out of
range) is not an ID. The province table, age bounds and cue words live in
``conf/rules/id_number.yaml``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from ..config import ConfigError
from ..spans import Span
from ..textnorm import Doc, fold
from .base import register_rule
from .common import COMBINING_MARKS, CueWords, digit_led_matches, load_rule_settings, record_has_long_number

NAME = "id_number"

# The first digit is consumed first (a pattern starting with a character class lets the
# regex engine skip in C to the next digit); the alternatives go on from the second one.
_CANDIDATE = re.compile(
    r"[0-9](?<![\w+][0-9])(?=[0-9 .]{8})(?:"
    r"[0-9]{11}"
    r"|[0-9]{2}(?P<s3>[ .])[0-9]{3}(?P=s3)[0-9]{3}(?P=s3)[0-9]{3}"  # "079 201 012 345"
    r"|[0-9]{3}(?P<s4>[ .])[0-9]{4}(?P=s4)[0-9]{4}"  # "0792 0101 2345"
    r"|[0-9]{8}"
    rf")(?![\w{COMBINING_MARKS}]|[.,/\-][0-9])"
)
_GLUE = ".,-/"


@dataclass
class IdConfidence:
    with_cue: float = 0.97
    without_cue: float = 0.75


@dataclass
class IdSettings:
    min_age: int = field(default=14, metadata={"check": lambda v: 0 <= v <= 150, "help": "0..150"})
    max_age: int = field(default=100, metadata={"check": lambda v: 0 <= v <= 150, "help": "0..150"})
    century_digits: dict[str, int] = field(default_factory=lambda: {"0": 1900, "1": 1900, "2": 2000, "3": 2000})
    cue_window: int = field(default=40, metadata={"check": lambda v: 0 <= v <= 200, "help": "0..200"})
    cue_words: list[str] = field(default_factory=list)
    negative_cue_words: list[str] = field(default_factory=list)
    # regexes for what only an ID has right after it ("..., cấp ngày 12/5/2010")
    following_cues: list[str] = field(default_factory=list)
    confidence: IdConfidence = field(default_factory=IdConfidence)
    provinces: dict[str, str] = field(default_factory=dict)


def load_settings(options: dict | None) -> IdSettings:
    """The YAML settings overlaid with ``options``, checked across fields."""
    settings = load_rule_settings(IdSettings, NAME, options)
    key = f"rules.options.{NAME}"
    if settings.min_age > settings.max_age:
        raise ConfigError(f"{key}.min_age: {settings.min_age} is above max_age {settings.max_age}")
    bad = [c for c in settings.provinces if not re.fullmatch(r"[0-9]{3}", c)]
    if bad or not settings.provinces:
        raise ConfigError(f"{key}.provinces: need 3-digit codes, got {bad[:1] or 'an empty table'}")
    bad = [d for d in settings.century_digits if not re.fullmatch(r"[0-9]", d)]
    if bad:
        raise ConfigError(f"{key}.century_digits: keys must be single digits, got {bad[0]!r}")
    return settings


class IdNumberExtractor:
    name = NAME
    labels = ("ID_NUMBER",)

    def __init__(self, settings: IdSettings):
        self.settings = settings
        self._provinces = frozenset(settings.provinces)
        self._cues = CueWords(settings.cue_words, settings.negative_cue_words, settings.cue_window)
        # Patterns are folded like the text they are matched on ("cấp" -> "cap"); regex syntax is ASCII.
        following = [fold(p) for p in settings.following_cues]
        try:
            self._following = re.compile(r"[\s,;:(–-]{0,3}(?:" + "|".join(following) + ")") if following else None
        except re.error as exc:
            raise ConfigError(f"rules.options.{NAME}.following_cues: bad regex: {exc}") from exc
        self._following_window = 40

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        if not record_has_long_number(doc):
            return []  # most records: no run of 9 digits
        spans = []
        for m in digit_led_matches(_CANDIDATE, doc):
            start, end = m.span()
            if start >= 2 and text[start - 1] in _GLUE and text[start - 2].isalnum():
                continue  # tail of a longer token: "1.250.000.123456789", "SPX-123456789"
            digits = m.group().replace(" ", "").replace(".", "")
            if len(digits) == 12 and not self.is_valid_cccd(digits, doc.ref_date):
                continue
            cue = self._cues.nearest(text, start)
            if cue == "negative":
                continue
            if cue is None and self._is_followed_by_cue(text, end):
                cue = "positive"
            if len(digits) == 9 and cue != "positive":
                continue  # a bare 9-digit number is far more often something else
            conf = self.settings.confidence
            score = conf.with_cue if cue == "positive" else conf.without_cue
            ostart, oend = doc.to_original(start, end)
            spans.append(Span(ostart, oend, "ID_NUMBER", score, "rule", digits, NAME))
        return spans

    def is_valid_cccd(self, digits: str, ref_date: date | None = None) -> bool:
        """Province code known, century digit allowed, birth year giving a plausible age."""
        if digits[:3] not in self._provinces:
            return False
        century = self.settings.century_digits.get(digits[3])
        if century is None:
            return False
        age = (ref_date or date.today()).year - (century + int(digits[4:6]))
        return self.settings.min_age <= age <= self.settings.max_age

    def _is_followed_by_cue(self, text: str, end: int) -> bool:
        if self._following is None:
            return False
        return self._following.match(fold(text[end:end + self._following_window])) is not None


@register_rule(NAME)
def build_id_number(options: dict | None = None) -> IdNumberExtractor:
    return IdNumberExtractor(load_settings(options))
