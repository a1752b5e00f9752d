"""PHONE: Vietnamese mobile, landline and service numbers, and "+" numbers of any country.

Candidates are runs of digit groups ("0912 345 678", "(028) 3822 1234", "+84 912-345-678");
the longest prefix of a run that is a valid number becomes the span, normalised to E.164.
Validity comes from the ``phonenumbers`` metadata: numbers of the default region (trunk "0",
"84..." or a service number such as "1900 545 413") are checked against its patterns,
compiled once; numbers of other countries only when written with "+", via
``phonenumbers.parse``. Money, dates, codes and IDs fail the shape or validity checks; the
nearest cue word before a number raises confidence or, for tax codes, bank accounts and
the like, rules it out. Settings and cue words: ``conf/rules/phone.yaml``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

from ..config import ConfigError
from ..spans import Span
from ..textnorm import Doc
from .base import register_rule
from .common import COMBINING_MARKS, CueWords, record_has_long_number, load_rule_settings

NAME = "phone"

# One group: "(+84)", "(028)", a leading "+84", or 1-12 ASCII digits not glued to more digits.
_GROUP = r"(?:\(\+?[0-9]{1,4}\)|\+?[0-9]{1,12}(?![0-9]))"
# Groups are joined by one space, dot or hyphen; a parenthesised group may touch its neighbour.
_JOIN = r"(?:[ .\-]|(?<=\))|(?=\())"
# A run starts at a word boundary, or right after a phone cue typed without a space ("sđt0912...").
_GLUED_CUES = ("sđt", "sdt", "đt", "dt", "tel", "zalo", "hotline")
# The run's first character is consumed first: a pattern that starts with a character class
# lets the regex engine skip in C to the next candidate. So the start conditions look back
# over that character ("[\s\S]"), and the first group goes on after it.
_START = ("(?:(?<![\\w+][\\s\\S])|(?<=[tTlLoOeE][\\s\\S])(?:"  # a cue ends in t, l, o or e
          + "|".join(f"(?<=(?i:{c})[\\s\\S])" for c in _GLUED_CUES) + "))")
_FIRST_GROUP_REST = r"(?:(?<=\()\+?[0-9]{1,4}\)|(?<=\+)[0-9]{1,12}(?![0-9])|(?<=[0-9])[0-9]{0,11}(?![0-9]))"
# A run shorter than 8 characters holds no number ("+65 6123 4567", "1800 1091", "1991 234"):
# the lookahead lets dates, amounts and counts fail at once.
_MIN_RUN_CHARS = 8
_RUN = re.compile(rf"[0-9(+](?=[0-9() .+\-]{{{_MIN_RUN_CHARS - 1}}}){_START}{_FIRST_GROUP_REST}(?:{_JOIN}{_GROUP})*")
_GROUP_RE = re.compile(r"\(?\+?[0-9]+\)?")
# A character that glues the run to a preceding token ("1.250.0912...", "SPX-HCM-0912...").
_GLUE = ".,-"
# Combining marks: a digit followed by one is not a clean token end (offsets would split a cluster).
_TOKEN_CHAR = re.compile(rf"[\w{COMBINING_MARKS}]")


@dataclass
class PhoneConfidence:
    base: float = 0.85
    with_cue: float = 0.97
    foreign: float = 0.8


@dataclass
class PhoneSettings:
    default_region: str = "VN"
    cue_window: int = field(default=30, metadata={"check": lambda v: 0 <= v <= 200, "help": "0..200"})
    cue_words: list[str] = field(default_factory=list)
    negative_cue_words: list[str] = field(default_factory=list)
    confidence: PhoneConfidence = field(default_factory=PhoneConfidence)


# Number types that make a number valid (as phonenumbers.is_valid_number counts them), and
# those dialled without the trunk prefix.
_VALID_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
                "voip", "pager", "uan", "voicemail")
_SERVICE_TYPES = ("toll_free", "premium_rate", "shared_cost", "uan")


class NationalNumbers:
    """Validity of one region's national numbers, from the phonenumbers metadata.

    Gives the same answer as ``phonenumbers.is_valid_number`` for the region's numbers (a
    test checks this on random numbers) without building PhoneNumber objects.
    """

    def __init__(self, region: str):
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None:
            raise ConfigError(f"rules.options.{NAME}.default_region: unknown region {region!r}")
        self.country_code = str(meta.country_code)
        self.trunk_prefix = meta.national_prefix or ""
        general = meta.general_desc
        self._general = re.compile(general.national_number_pattern)

        def descs(names):
            out = []
            for name in names:
                desc = getattr(meta, name)
                if desc is not None and desc.national_number_pattern:
                    lengths = frozenset(desc.possible_length or general.possible_length)
                    out.append((re.compile(desc.national_number_pattern), lengths))
            return out

        self._valid = descs(_VALID_TYPES)
        self._service = descs(_SERVICE_TYPES)

    def is_valid(self, national: str) -> bool:
        return bool(self._general.fullmatch(national)) and self._matches(national, self._valid)

    def is_service(self, national: str) -> bool:
        return self._matches(national, self._service)

    @staticmethod
    def _matches(national: str, descs) -> bool:
        return any(len(national) in lengths and pattern.fullmatch(national) for pattern, lengths in descs)


class PhoneExtractor:
    name = NAME
    labels = ("PHONE",)

    def __init__(self, settings: PhoneSettings):
        self.settings = settings
        self._cues = CueWords(settings.cue_words, settings.negative_cue_words, settings.cue_window)
        self._national = NationalNumbers(settings.default_region)
        self._parse = lru_cache(maxsize=65536)(self._parse_uncached)

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        if not record_has_long_number(doc):
            return []  # most records: no run of 7 digits
        spans = []
        for run in _RUN.finditer(text):
            start = run.start()
            if run.end() - start < _MIN_RUN_CHARS:
                continue  # too short to hold a number
            if start >= 2 and text[start - 1] in _GLUE and text[start - 2].isalnum():
                continue
            groups = [(start + m.start(), start + m.end(), m.group()) for m in _GROUP_RE.finditer(run.group())]
            spans.extend(self._phones_in_run(doc, groups))
        return spans

    def _phones_in_run(self, doc: Doc, groups: list[tuple[int, int, str]]) -> list[Span]:
        text = doc.norm
        spans, i = [], 0
        while i < len(groups):
            hit = self._longest_phone(text, groups, i)
            if hit is not None:
                j, e164, foreign = hit
                start, end = groups[i][0], groups[j][1]
                cue = self._cues.nearest(text, start)
                if cue != "negative":
                    conf = self.settings.confidence
                    score = conf.with_cue if cue == "positive" else (conf.foreign if foreign else conf.base)
                    ostart, oend = doc.to_original(start, end)
                    spans.append(Span(ostart, oend, "PHONE", score, "rule", e164, NAME))
                i = j + 1
                continue
            # Restart only where a new number plausibly begins (a space before a "0", "+"
            # or "(" group): never inside "1.250.000" or a list of amounts like "1500 1800".
            i += 1
            while i < len(groups) and not (text[groups[i][0] - 1] == " " and groups[i][2][0] in "0+("):
                i += 1
        return spans

    def _longest_phone(self, text: str, groups, i: int):
        """(last group index, E.164, is_foreign) of the longest valid number from group i."""
        plus = "+" in groups[i][2]
        first_group_digits = len(groups[i][2].strip("(+)"))
        candidates, digits = [], ""
        for j in range(i, len(groups)):
            digits += groups[j][2].strip("(+)")
            if len(digits) > 15:
                break
            candidates.append((j, digits))
        for j, digits in reversed(candidates):
            end = groups[j][1]
            if end < len(text) and _TOKEN_CHAR.match(text, end):
                continue  # glued to letters ("0912345678đ") or to a combining mark
            result = self._parse(digits, plus, first_group_digits)
            if result is not None:
                return j, *result
        return None

    def _parse_uncached(self, digits: str, plus: bool, first_group_digits: int):
        """(E.164, is_foreign) for a valid number, else None.

        Numbers of the default region are checked against its phonenumbers metadata, compiled
        once (``NationalNumbers``); only "+" numbers of other countries go through
        ``phonenumbers.parse``, which is ~20x slower.
        """
        numbers = self._national
        cc, trunk = numbers.country_code, numbers.trunk_prefix
        if plus:
            if not digits.startswith(cc):
                return self._parse_foreign(digits)
            national = digits[len(cc):]
            if trunk and national.startswith(trunk):
                national = national[len(trunk):]  # "+84 0912 345 678": a common slip
        elif trunk and digits.startswith(trunk):
            national = digits[len(trunk):]
        elif digits.startswith(cc) and len(digits) - len(cc) >= 9:
            national = digits[len(cc):]  # "84912345678", the country code without "+"
        elif first_group_digits >= 4 and numbers.is_service(digits):
            # Service numbers are dialled as they are ("1900 545 413"); a short first group
            # is a date or an amount ("12.03.2024" would be toll-free 1203 2024).
            national = digits
        else:
            return None
        if not numbers.is_valid(national):
            return None
        return f"+{cc}{national}", False

    def _parse_foreign(self, digits: str):
        if not 8 <= len(digits) <= 15:
            return None
        try:
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


@register_rule(NAME)
def build_phone(options: dict | None = None) -> PhoneExtractor:
    return PhoneExtractor(load_rule_settings(PhoneSettings, NAME, options))
