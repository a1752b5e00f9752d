"""ORDER_CODE: order and parcel tracking codes described by a segment grammar in YAML.

Every format in ``conf/rules/order_code.yaml`` (or the file given by ``conf_path``) is a
sequence of segments (regex, optional flag, length-dependent constraints) joined by one
separator. All formats compile into one regex, so a record is scanned once whatever the
number of carriers configured.
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

NAME = "order_code"
_MARKS = "\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"


@dataclass
class SegmentConstraint:
    length: int = field(metadata={"check": lambda v: v > 0, "help": "> 0"})
    regex: str


@dataclass
class Segment:
    name: str
    regex: str
    optional: bool = False
    constraints: list[SegmentConstraint] = field(default_factory=list)


@dataclass
class CodeFormat:
    name: str
    segments: list[Segment]
    separators: list[str] = field(default_factory=lambda: ["-", ""])
    examples: list[str] = field(default_factory=list)
    prefilter: str | None = None  # regex every code of the format contains; records without it are skipped


@dataclass
class OrderConfidence:
    base: float = 0.9
    with_cue: float = 0.98


@dataclass
class OrderCodeSettings:
    formats: list[CodeFormat] = field(default_factory=list)
    ignore_case: bool = True
    not_codes: list[str] = field(default_factory=list)
    cue_window: int = field(default=30, metadata={"check": lambda v: 0 <= v <= 200, "help": "0..200"})
    cue_words: list[str] = field(default_factory=list)
    confidence: OrderConfidence = field(default_factory=OrderConfidence)


def load_settings(options: dict | None) -> OrderCodeSettings:
    """YAML defaults (``conf_path`` or the packaged file) overlaid with the options dict."""
    options = dict(options or {})
    conf_path = options.pop("conf_path", None)
    source = Path(conf_path) if conf_path else files("nerlake.conf") / "rules" / f"{NAME}.yaml"
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"rules.options.{NAME}.conf_path: cannot read {source}: {exc}") from exc
    return from_dict(OrderCodeSettings, {**data, **options}, prefix=f"rules.options.{NAME}")


def _compile(regex: str, key: str, flags: int) -> re.Pattern:
    try:
        return re.compile(regex, flags)
    except re.error as exc:
        raise ConfigError(f"{key}: bad regex {regex!r}: {exc}") from exc


class _CompiledFormat:
    """One (format, separator) alternative: its regex source and segment checks."""

    def __init__(self, fmt: CodeFormat, sep: str, group: str, key: str, flags: int):
        self.format_name = fmt.name
        self.group = group
        self.checks = []  # (group name, shape regex, {length: constraint regex})
        parts, required, joiner = [], 0, re.escape(sep)
        for k, seg in enumerate(fmt.segments):
            seg_key = f"{key}.segments[{k}]"
            shape = _compile(seg.regex, f"{seg_key}.regex", flags)
            forms = {c.length: _compile(c.regex, f"{seg_key}.constraints[{i}].regex", flags)
                     for i, c in enumerate(seg.constraints)}
            name = f"{group}_{k}"
            # Constraint forms first so the engine backtracks into them; the shape last,
            # for lengths without a constraint (post-checked in segments_ok).
            body = "|".join([*(f"(?:{c.regex})" for c in seg.constraints), f"(?:{seg.regex})"])
            piece = f"(?P<{name}>{body})"
            self.checks.append((name, shape, forms))
            # Segments before the first required one carry their separator after them.
            if not required:
                parts.append(f"(?:{piece}{joiner})?" if seg.optional else piece)
            else:
                parts.append(f"(?:{joiner}{piece})?" if seg.optional else joiner + piece)
            required += not seg.optional
        if not required:
            raise ConfigError(f"{key}.segments: at least one segment must not be optional")
        self.source = f"(?P<{group}>{''.join(parts)})"

    def segments_ok(self, match: re.Match) -> bool:
        for name, shape, forms in self.checks:
            value = match.group(name)
            if value is None:
                continue
            if not shape.fullmatch(value):
                return False
            form = forms.get(len(value))
            if form is not None and not form.fullmatch(value):
                return False
        return True


class OrderCodeExtractor:
    name = NAME
    labels = ("ORDER_CODE",)

    def __init__(self, settings: OrderCodeSettings):
        if not settings.formats:
            raise ConfigError(f"rules.options.{NAME}.formats: at least one format is needed")
        self.settings = settings
        flags = re.IGNORECASE if settings.ignore_case else 0
        self._alternatives = []
        for fi, fmt in enumerate(settings.formats):
            key = f"rules.options.{NAME}.formats[{fi}]"
            if not fmt.separators:
                raise ConfigError(f"{key}.separators: give at least one (\"\" for none)")
            for si, sep in enumerate(fmt.separators):
                self._alternatives.append(_CompiledFormat(fmt, sep, f"f{fi}s{si}", key, flags))
        body = "|".join(alt.source for alt in self._alternatives)
        # Not glued to more code characters: "SPX-HCM-512345678-2" is some other identifier.
        # The leading lookahead lets the engine skip positions quickly (codes start with an ASCII
        # letter or digit).
        self._pattern = re.compile(
            rf"(?=[A-Za-z0-9])(?<!\w)(?<![A-Za-z0-9]-)(?:{body})(?![\w{_MARKS}]|-[A-Za-z0-9])", flags)
        prefilters = [_compile(fmt.prefilter, f"rules.options.{NAME}.formats[{i}].prefilter", flags) if fmt.prefilter
                      else None for i, fmt in enumerate(settings.formats)]
        # A record matching no format's prefilter holds no code; usable only when every format has one.
        self._prefilter = (re.compile("|".join(f"(?:{p.pattern})" for p in prefilters), flags)
                           if all(prefilters) else None)
        self._not_codes = {w.upper() for w in settings.not_codes}
        self._cues = re.compile(
            r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, sorted({fold(w) for w in settings.cue_words}, key=len, reverse=True)))
            + r")(?![a-z0-9])") if settings.cue_words else None
        for fi, fmt in enumerate(settings.formats):
            for example in fmt.examples:
                if prefilters[fi] is not None and not prefilters[fi].search(example):
                    raise ConfigError(f"rules.options.{NAME}.formats[{fi}].prefilter: example {example!r} does not contain it")
                if self.match_code(example) != fmt.name:
                    raise ConfigError(f"rules.options.{NAME}.formats[{fi}].examples: {example!r} does not match format {fmt.name!r}")

    def match_code(self, code: str) -> str | None:
        """Name of the format that ``code`` (the whole string) is an instance of, else None."""
        m = self._pattern.fullmatch(code)
        alt = self._valid_alternative(m) if m else None
        return alt.format_name if alt else None

    def _valid_alternative(self, m: re.Match):
        for alt in self._alternatives:
            if m.group(alt.group) is not None:
                if not alt.segments_ok(m):
                    return None
                letters = re.match(r"[^\W\d_]+", m.group())
                if letters and letters.group().upper() in self._not_codes:
                    return None
                return alt
        return None

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        if self._prefilter is not None and not self._prefilter.search(text):
            return []
        spans = []
        for m in self._pattern.finditer(text):
            if self._valid_alternative(m) is None:
                continue
            start, end = m.span()
            conf = self.settings.confidence
            score = conf.with_cue if self._has_cue(text, start) else conf.base
            ostart, oend = doc.to_original(start, end)
            spans.append(Span(ostart, oend, "ORDER_CODE", score=score, normalized=m.group().upper(), rule=NAME))
        return spans

    def _has_cue(self, text: str, start: int) -> bool:
        if self._cues is None:
            return False
        window = fold(text[max(0, start - self.settings.cue_window): start])
        return self._cues.search(window) is not None


@register_rule(NAME)
def build_order_code(options: dict | None = None) -> OrderCodeExtractor:
    return OrderCodeExtractor(load_settings(options))
