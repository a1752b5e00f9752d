"""ORDER_CODE: order and parcel tracking codes described by a segment grammar in YAML.

Every format in ``conf/rules/order_code.yaml`` (or the file given by ``conf_path``) is a
sequence of segments (regex, optional flag, length-dependent constraints) joined by one
separator. All formats compile into one regex, so a record is scanned once whatever the
number of carriers configured; with prefilters (a regex every code of a format contains,
such as its 9-digit serial) only the text around their matches is scanned.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..config import ConfigError
from ..spans import Span
from ..textnorm import Doc
from .base import register_rule
from .common import COMBINING_MARKS, CueWords, class_first, record_has_long_number, load_rule_settings

NAME = "order_code"
_LETTERS = re.compile(r"[^\W\d_]+")
_NON_WORD = re.compile(r"\W")


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


def _compile(regex: str, key: str, flags: int) -> re.Pattern:
    try:
        return re.compile(regex, flags)
    except re.error as exc:
        raise ConfigError(f"{key}: bad regex {regex!r}: {exc}") from exc


def _digit_run_length(regex: str) -> int:
    """n for a regex that is a run of at least n ASCII digits ("[0-9]{9}", "[0-9]{9,10}"), else 0."""
    m = re.fullmatch(r"\[0-9\]\{([0-9]+)(?:,[0-9]*)?\}", regex)
    return int(m.group(1)) if m else 0


def _longest_match(regex: str, flags: int) -> int | None:
    """The most characters ``regex`` can match, or None when unbounded or not knowable."""
    try:
        from re import _parser  # the re module's own parser: the one that knows
        longest = _parser.parse(regex, flags).getwidth()[1]
    except Exception:  # a private module: should it change, lose the speed-up, not the codes
        return None
    return longest if longest < 10_000 else None


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
        prefilters = [_compile(fmt.prefilter, f"rules.options.{NAME}.formats[{i}].prefilter", flags) if fmt.prefilter
                      else None for i, fmt in enumerate(settings.formats)]
        # A record matching no format's prefilter holds no code; usable only when every format has one.
        self._prefilter = (re.compile("|".join(f"(?:{class_first(p.pattern)})" for p in prefilters), flags)
                           if all(prefilters) else None)
        # A code starts with an ASCII letter or digit, not glued to a word or to "X-" before it
        # nor to more code characters after it: "SPX-HCM-512345678-2" is some other identifier.
        code = rf"(?=[A-Za-z0-9])(?:{body})(?![\w{COMBINING_MARKS}]|-[A-Za-z0-9])"
        self._pattern = re.compile(rf"(?<!\w)(?<![A-Za-z0-9]-){code}", flags)
        # For scanning, the character before the code is consumed first: a pattern that starts
        # with a character class lets the regex engine skip in C from one non-word character to
        # the next (a space is put before the text so that a code may start it).
        self._scanner = re.compile(rf"\W(?<![A-Za-z0-9]-)(?P<code>{code})", flags)
        # Every code contains its format's prefilter, so a code starts at most this many
        # characters before the end of a prefilter match (None: not bounded, scan it all).
        self._longest = _longest_match(body, flags) if self._prefilter is not None else None
        # Prefilters that are runs of 7+ digits ("[0-9]{9}") imply the shared long-number
        # gate, answered once per record for all extractors: records without one are skipped
        # before the prefilter's own scan.
        self._needs_long_number = bool(prefilters) and all(
            p is not None and _digit_run_length(p.pattern) >= 7 for p in prefilters)
        self._not_codes = {w.upper() for w in settings.not_codes}
        self._cues = CueWords(settings.cue_words, window=settings.cue_window)
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
            code = m.group(alt.group)
            if code is not None:
                if not alt.segments_ok(m):
                    return None
                letters = _LETTERS.match(code)
                if letters and letters.group().upper() in self._not_codes:
                    return None
                return alt
        return None

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        if self._needs_long_number and not record_has_long_number(doc):
            return []
        if self._prefilter is not None and not self._prefilter.search(text):
            return []
        spans = []
        for m in self._code_matches(text):
            if self._valid_alternative(m) is None:
                continue
            start, end = m.start("code") - 1, m.end("code") - 1  # offsets in text, without the space
            conf = self.settings.confidence
            score = conf.with_cue if self._cues.any_before(text, start) else conf.base
            ostart, oend = doc.to_original(start, end)
            spans.append(Span(ostart, oend, "ORDER_CODE", score, "rule", text[start:end].upper(), NAME))
        return spans


    def _code_matches(self, text: str):
        """The scanner's matches over " " + ``text``, as one scan of it all would give them,
        looked for only where a code can be: around the prefilter's matches. Trying the
        grammar at every word of a long record costs far more than the matches."""
        padded = " " + text
        if self._longest is None:
            yield from self._scanner.finditer(padded)
            return
        pos = 0  # where the scan may go on: past the last code
        for hit in self._prefilter.finditer(text):
            # A code holding this hit starts no earlier than this (+1 for the space, -1 for
            # the character before the code, which the scanner consumes) and no later than
            # the hit. The scanner is tried only at the non-word characters in between: a
            # scan on from there would run to the end of the record when no code is found.
            start = max(pos, hit.end() - self._longest)
            for before in _NON_WORD.finditer(padded, start, hit.start() + 1):
                if before.start() < pos:
                    continue  # inside the code found last
                m = self._scanner.match(padded, before.start())
                if m is not None:
                    pos = m.end()
                    yield m


@register_rule(NAME)
def build_order_code(options: dict | None = None) -> OrderCodeExtractor:
    return OrderCodeExtractor(load_rule_settings(OrderCodeSettings, NAME, options))
