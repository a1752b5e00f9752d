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
from importlib.resources import files
from pathlib import Path

import yaml

from ..config import ConfigError, from_dict
from ..spans import Span
from ..textnorm import Doc, fold
from .base import register_rule

NAME = "id_number"

_MARKS = "\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
# The leading lookahead lets the regex engine skip non-digit positions quickly.
_CANDIDATE = re.compile(
    r"(?=[0-9])(?<![\w+])(?:"
    r"[0-9]{12}"
    r"|[0-9]{3}(?P<s3>[ .])[0-9]{3}(?P=s3)[0-9]{3}(?P=s3)[0-9]{3}"  # "079 201 012 345"
    r"|[0-9]{4}(?P<s4>[ .])[0-9]{4}(?P=s4)[0-9]{4}"  # "0792 0101 2345"
    r"|[0-9]{9}"
    rf")(?![\w{_MARKS}]|[.,/\-][0-9])"
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
    """YAML defaults (``conf_path`` or the packaged file) overlaid with the options dict."""
    options = dict(options or {})
    conf_path = options.pop("conf_path", None)
    source = Path(conf_path) if conf_path else files("nerlake.conf") / "rules" / f"{NAME}.yaml"
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"rules.options.{NAME}.conf_path: cannot read {source}: {exc}") from exc
    settings = from_dict(IdSettings, {**data, **options}, prefix=f"rules.options.{NAME}")
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


def _cue_regex(words) -> re.Pattern | None:
    """Whole-word regex over folded text for the cue words, or None when there are none."""
    folded = sorted({fold(w.strip()) for w in words if w.strip()}, key=len, reverse=True)
    if not folded:
        return None
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, folded)) + r")(?![a-z0-9])")


class IdNumberExtractor:
    name = NAME
    labels = ("ID_NUMBER",)

    def __init__(self, settings: IdSettings):
        self.settings = settings
        self._provinces = frozenset(settings.provinces)
        self._positive = {fold(w) for w in settings.cue_words}
        self._cues = _cue_regex([*settings.cue_words, *settings.negative_cue_words])
        # Patterns are folded like the text they are matched on ("cấp" -> "cap"); regex syntax is ASCII.
        following = [fold(p) for p in settings.following_cues]
        try:
            self._following = re.compile(r"[\s,;:(–-]{0,3}(?:" + "|".join(following) + ")") if following else None
        except re.error as exc:
            raise ConfigError(f"rules.options.{NAME}.following_cues: bad regex: {exc}") from exc
        self._following_window = 40

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        spans = []
        for m in _CANDIDATE.finditer(text):
            start, end = m.span()
            if start >= 2 and text[start - 1] in _GLUE and text[start - 2].isalnum():
                continue  # tail of a longer token: "1.250.000.123456789", "SPX-123456789"
            digits = m.group().replace(" ", "").replace(".", "")
            cue = self._nearest_cue(text, start)
            if cue == "negative":
                continue
            if cue is None and self._is_followed_by_cue(text, end):
                cue = "positive"
            if len(digits) == 12:
                if not self.is_valid_cccd(digits, doc.ref_date):
                    continue
            elif cue != "positive":
                continue  # a bare 9-digit number is far more often something else
            conf = self.settings.confidence
            score = conf.with_cue if cue == "positive" else conf.without_cue
            ostart, oend = doc.to_original(start, end)
            spans.append(Span(ostart, oend, "ID_NUMBER", score=score, normalized=digits, rule=NAME))
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

    def _nearest_cue(self, text: str, start: int) -> str | None:
        """"positive", "negative" or None: the kind of the last cue word before ``start``."""
        if self._cues is None:
            return None
        window = fold(text[max(0, start - self.settings.cue_window): start])
        last = None
        for last in self._cues.finditer(window):
            pass
        if last is None:
            return None
        return "positive" if last.group() in self._positive else "negative"


@register_rule(NAME)
def build_id_number(options: dict | None = None) -> IdNumberExtractor:
    return IdNumberExtractor(load_settings(options))
