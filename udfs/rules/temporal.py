"""DATE, TIME and DURATION: SUTime-style temporal expressions in Vietnamese and English.

Normalised values are ISO-8601, with TIMEX3's codes where ISO has none:

    DATE      "2024-03-12", month "2024-03", year "2024", ISO week "2024-W11", weekend
              "2024-W11-WE", quarter "2024-Q1", range "2024-03-12/2024-03-15"
    TIME      "T15:30", date-time "2024-03-13T08:00", part of day "2024-03-12TMO",
              range "T08:00/T17:00"
    DURATION  "P3D", "P2W", "PT45M", "PT1H30M", "P1.5D", vague "PXD", range "P2D/P3D"

Reading rules:
- numeric dates are day first ("3/4/2024" is 3 April); month first only where day first
  is impossible ("03/15/2024"), or everywhere with ``numeric_date_order: month_first``;
- a date written without a year takes the year that puts it nearest to ``ref_date``;
- relative expressions ("hôm qua", "tuần sau", "3 ngày trước", "thứ 2 tuần sau") resolve
  against ``doc.ref_date``; without one they are still extracted, with normalized None;
- a bare weekday ("thứ 6") is that day of the week containing ``ref_date`` (SUTime's rule);
- "đầu/cuối/giữa" belong to the span of the week, month or year they modify; the value is
  the period's ("cuối tháng 3" -> "2024-03"), but the end of a week is its weekend;
- "N giờ" / "Nh" is a clock time unless a duration cue precedes it ("mất 2 giờ") or it
  cannot be a clock hour ("48h", "24h"); "N tiếng" is always a duration;
- "N ngày/tuần/tháng/năm trước|nữa" is a date ("3 ngày trước" = 3 days ago) at that grain;
- a slash pair without year is a date unless it reads as a fraction or score: a quantity
  word before it ("khoảng 3/4"), a noun after it ("3/5 điểm", "1/2 cốc"), or a version,
  score, rating, ratio, house or class number before it ("phiên bản", "tỉ số", "số", "lớp");
- records typed without diacritics ("hom qua 3h chieu") are read with the vocabulary
  stripped of them, less the words that become ambiguous ("toi" is "tối" and "tôi"); in
  other records a few unambiguous words are read in both spellings ("tu 7:00 den 17:00");
- a cue word capitalised inside a sentence is part of a name, not a cue: "sân bay Nội Bài
  thứ năm" is a Thursday ("bài" would make "thứ năm" an ordinal), "Bạch Mai lúc 8h" is no
  "mai" (tomorrow), "Khánh Hòa 03/02" no score;
- a number glued to a currency sign is an amount ("$1200 tháng trước").

How it works: see ``_TemporalGrammar``. Vocabulary: ``conf/rules/temporal.yaml``.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

import ahocorasick

from ..spans import Span
from ..textnorm import Doc, fold
from .base import register_rule
from .common import (AccentAwareExtractor, WordsBefore, char_class, fold_vocab, format_decimal, load_rule_settings,
                     phrases_pattern, prefix_pattern, record_first_digit, with_unaccented_spellings, words_after)

_UNITS = ("Y", "M", "W", "D", "H", "MIN", "S")


@dataclass
class PartOfDay:
    code: str  # TIMEX3 part-of-day code: MO, MI, AF, EV, NI
    pm_hours: list[int] = field(default_factory=list)  # clock hours that move to the afternoon
    midnight: bool = False  # "12" means 00:00


def _in_range(lo, hi):
    return lambda d: all(lo <= v <= hi for v in d.values())


def _shape_ok(periods: dict) -> bool:
    return all(
        isinstance(v, list) and len(v) == 2 and v[0] in ("week", "month", "year")
        and isinstance(v[1], int) and not isinstance(v[1], bool)
        for v in periods.values()
    )


@dataclass
class TemporalVocab:
    months: dict[str, int] = field(metadata={"check": _in_range(1, 12), "help": "month numbers 1-12"})
    weekdays: dict[str, int] = field(metadata={"check": _in_range(1, 7), "help": "ISO weekdays 1 (Monday) - 7 (Sunday)"})
    relative_days: dict[str, int]
    relative_periods: dict[str, list[str | int]] = field(metadata={"check": _shape_ok, "help": "[week|month|year, integer offset] pairs"})
    parts_of_day: dict[str, PartOfDay]
    duration_units: dict[str, str] = field(metadata={"check": lambda d: set(d.values()) <= set(_UNITS), "help": f"units among {', '.join(_UNITS)}"})
    numeric_date_order: str = field(default="day_first", metadata={"choices": ["day_first", "month_first"]})
    weekday_after: dict[str, int | str] = field(default_factory=dict, metadata={"check": lambda d: all(v in ("upcoming", "previous") or isinstance(v, int) for v in d.values()), "help": "week offsets, 'upcoming' or 'previous'"})
    weekday_before: dict[str, int] = field(default_factory=dict)
    ordinal_nouns: list[str] = field(default_factory=list)
    meridiems: dict[str, PartOfDay] = field(default_factory=dict)
    part_of_day_days: dict[str, int] = field(default_factory=dict)
    duration_cues: list[str] = field(default_factory=list)
    duration_after: dict[str, int] = field(default_factory=dict)
    duration_before: dict[str, int] = field(default_factory=dict)
    not_ago_after: list[str] = field(default_factory=list)
    number_words: dict[str, float] = field(default_factory=dict)
    vague_numbers: list[str] = field(default_factory=list)
    range_connectors: list[str] = field(default_factory=lambda: ["-", "đến"])
    range_openers: list[str] = field(default_factory=lambda: ["từ"])
    paired_range_connectors: dict[str, list[str]] = field(default_factory=dict)
    datetime_joiners: list[str] = field(default_factory=list)
    number_blockers_before: list[str] = field(default_factory=list)
    number_blockers_after: list[str] = field(default_factory=list)
    ratio_cues: list[str] = field(default_factory=list)
    fraction_cues: list[str] = field(default_factory=list)
    weekday_abbreviations: dict[str, int] = field(default_factory=dict, metadata={"check": _in_range(1, 7), "help": "ISO weekdays 1 (Monday) - 7 (Sunday)"})
    not_duration_before: list[str] = field(default_factory=list)
    not_without_accents: list[str] = field(default_factory=list)
    not_after_clock_without_accents: list[str] = field(default_factory=list)
    also_without_accents: list[str] = field(default_factory=list)
    period_modifiers: dict[str, str] = field(default_factory=dict, metadata={"check": lambda d: set(d.values()) <= {"START", "MID", "END"}, "help": "START, MID or END"})
    day_only_blockers_after: list[str] = field(default_factory=list)
    not_dates: list[str] = field(default_factory=list)


# --- values ---------------------------------------------------------------------------


# _Cal and _Clock are values, never changed once built (copies are made with replace or the
# helpers below); they are not frozen only because a frozen dataclass is several times
# slower to build, and a record makes several of them.
@dataclass(slots=True)
class _Cal:
    """A calendar value: a day, an ISO week, a month, a quarter or a year.

    ``year`` is None for a date written without one (resolved against ref_date when
    rendered); ``known`` is False for a relative expression with no ref_date.
    """

    grain: str  # "day" | "week" | "month" | "quarter" | "year"
    year: int | None = None
    month: int = 0
    day: int = 0
    week: int = 0
    quarter: int = 0
    known: bool = True
    weekend: bool = False  # "cuối tuần": the end of a week is its weekend (TIMEX3 "-WE")


@dataclass(slots=True)
class _Clock:
    hour: int | None  # None: only a part of the day is known ("sáng nay")
    minute: int = 0
    second: int | None = None
    pod: str | None = None  # TIMEX3 code, written only when hour is None
    day: _Cal | None = None  # the date, for a date-time


@dataclass(slots=True)
class _Atom:
    start: int
    end: int
    label: str
    value: object  # _Cal, _Clock, a duration string (or None), or a (first, last) range
    score: float
    weak: bool = False  # kept only when it joins a neighbour ("1/5" alone is a fraction)
    pod_rule: PartOfDay | None = None  # "chiều mai" shifts the clock that follows it
    weekday: bool = False  # a weekday yields to an explicit date next to it
    tomorrow_at: int | None = None  # where a "mai" (tomorrow) right before this clock starts


_UNKNOWN_DAY = _Cal("day", known=False)


# dataclasses.replace is slow for the per-record path; these two build the copies directly
def _in_year(cal: _Cal, year: int) -> _Cal:
    return _Cal(cal.grain, year, cal.month, cal.day, cal.week, cal.quarter, cal.known, cal.weekend)


def _on_day(clock: _Clock, day: _Cal | None, hour: int | None = None) -> _Clock:
    return _Clock(clock.hour if hour is None else hour, clock.minute, clock.second, clock.pod, day)


def _day(d: date) -> _Cal:
    return _Cal("day", d.year, d.month, d.day)


def _shift_days(ref: date | None, days: int) -> _Cal:
    try:
        return _UNKNOWN_DAY if ref is None else _day(ref + timedelta(days=days))
    except OverflowError:  # a ref_date at the end of the calendar
        return _UNKNOWN_DAY


def _shift_period(ref: date | None, unit: str, offset: int) -> _Cal:
    """The week, month or year ``offset`` units from ref_date's."""
    if ref is None:
        return _Cal(unit, known=False)
    if unit == "week":
        try:
            year, week, _ = (ref + timedelta(weeks=offset)).isocalendar()
        except OverflowError:
            return _Cal(unit, known=False)
        return _Cal("week", year, week=week)
    if unit == "month":
        year, month0 = divmod(ref.year * 12 + ref.month - 1 + offset, 12)
        return _Cal("month", year, month0 + 1)
    return _Cal("year", ref.year + offset)


def _weekday_date(ref: date | None, weekday: int, offset: int | str) -> _Cal:
    if ref is None:
        return _UNKNOWN_DAY
    if offset == "upcoming":
        return _shift_days(ref, (weekday - ref.isoweekday()) % 7 or 7)
    if offset == "previous":
        return _shift_days(ref, -((ref.isoweekday() - weekday) % 7 or 7))
    return _shift_days(ref, 7 * offset + weekday - ref.isoweekday())


def _valid_day(year: int | None, month: int, day: int) -> bool:
    try:
        date(2024 if year is None else year, month, day)  # 2024 is a leap year: 29/2 is fine
    except ValueError:
        return False
    return True


def _resolve(cal: _Cal, ref: date | None) -> _Cal | None:
    """Fill a missing year with the one nearest ref_date; None when it cannot be known."""
    if not cal.known:
        return None
    if cal.year is not None:
        return cal
    if ref is None:
        return None
    if cal.grain == "day":
        best = None
        for year in (ref.year, ref.year - 1, ref.year + 1):
            if _valid_day(year, cal.month, cal.day):
                distance = abs((date(year, cal.month, cal.day) - ref).days)
                if best is None or distance < best[0]:
                    best = (distance, year)
        return _in_year(cal, best[1]) if best else None
    if cal.grain == "month":
        here = ref.year * 12 + ref.month - 1
        year = min((ref.year, ref.year - 1, ref.year + 1), key=lambda y: abs(y * 12 + cal.month - 1 - here))
        return _in_year(cal, year)
    if cal.grain == "quarter":
        return _in_year(cal, ref.year)
    return None


def _render_cal(cal: _Cal, ref: date | None) -> str | None:
    cal = _resolve(cal, ref)
    if cal is None or not 1 <= cal.year <= 9999:
        return None
    # %-formatting: about twice as fast as format specs in f-strings, and this runs per span
    if cal.grain == "day":
        return "%04d-%02d-%02d" % (cal.year, cal.month, cal.day)
    if cal.grain == "month":
        return "%04d-%02d" % (cal.year, cal.month)
    if cal.grain == "week":
        return f"{cal.year:04d}-W{cal.week:02d}" + ("-WE" if cal.weekend else "")
    if cal.grain == "quarter":
        return f"{cal.year:04d}-Q{cal.quarter}"
    return f"{cal.year:04d}"


def _render(value, ref: date | None) -> str | None:
    if isinstance(value, tuple):
        first, last = (_render(v, ref) for v in value)
        return None if first is None or last is None else f"{first}/{last}"
    if isinstance(value, _Cal):
        return _render_cal(value, ref)
    if isinstance(value, _Clock):
        day = ""
        if value.day is not None:
            day = _render_cal(value.day, ref)
            if day is None:
                return None
        if value.hour is None:
            return f"{day}T{value.pod}"
        if value.second is None:
            return "%sT%02d:%02d" % (day, value.hour, value.minute)
        return "%sT%02d:%02d:%02d" % (day, value.hour, value.minute, value.second)
    return value  # a duration: already an ISO string, or None


def _duration(amounts: dict) -> str:
    """ISO-8601 duration from unit -> amount (int or Decimal).

    A fraction of an hour or a year becomes minutes or months ("1,5 tiếng" -> "PT1H30M");
    other fractions stay decimal ("1,5 ngày" -> "P1.5D").
    """
    if len(amounts) == 1:
        (unit, value), = amounts.items()
        if isinstance(value, int):  # the usual "3 ngày": no arithmetic needed
            return f"PT{value}{'M' if unit == 'MIN' else unit}" if unit in ("H", "MIN", "S") else f"P{value}{unit}"
    amounts = dict(amounts)
    for unit, smaller, factor in (("Y", "M", 12), ("H", "MIN", 60), ("MIN", "S", 60)):
        value = amounts.get(unit)
        if isinstance(value, Decimal) and value != value.to_integral_value():
            whole = value.to_integral_value(rounding="ROUND_FLOOR")
            amounts[unit] = whole
            amounts[smaller] = amounts.get(smaller, 0) + (value - whole) * factor
    text = lambda v: str(v) if isinstance(v, int) else format_decimal(v)  # noqa: E731
    date_part = "".join(f"{text(amounts[u])}{u}" for u in ("Y", "M", "W", "D") if amounts.get(u))
    time_part = "".join(f"{text(amounts[u])}{'M' if u == 'MIN' else u}" for u in ("H", "MIN", "S") if amounts.get(u))
    if not date_part and not time_part:
        return "PT0S"
    return "P" + date_part + (f"T{time_part}" if time_part else "")


# --- the extractor --------------------------------------------------------------------

_NUM_END = r"(?![0-9]|[.,/:][0-9])"
_D2 = r"[0-9]{1,2}"
_YEAR = r"(?:19|20)[0-9]{2}"
# Words before a number that belong to the DATE span ("ngày 12/3", "hôm 10/3").
_DATE_WORDS = ("ngày", "hôm", "mùng", "mồng", "ngay", "hom")
# Vietnamese weekdays spelled in words are also ordinals ("thứ hai" = "second"): followed
# by a comma or colon and no date, they open the second point of a list ("Thứ hai, ...").
_LIST_POINT = re.compile(r"\s*[,:](?!\s*(?:ngày\s+|ngay\s+)?[0-9])", re.IGNORECASE)
_BARE_YEAR = re.compile(r"\s+(?:19|20)[0-9]{2}(?![0-9/.-])")
_DAY_OF_DATE = re.compile(r"\s+[0-9]{1,2}(?:[/.-][0-9]|\s+th[áa]ng\s)", re.IGNORECASE)
_SENTENCE_START = re.compile(r"(?:^|[.!?;:\n])\s*(?:[-*•]\s*|[0-9]\.\s*)?$")


@lru_cache(maxsize=4096)
def _key(text: str) -> str:
    """Lookup key of a matched word: lower case, single spaces (the same few words recur)."""
    return " ".join(text.lower().split())


class _TemporalGrammar:
    """Finds atoms (a date, a clock time, a duration), then joins neighbours.

    Built twice by ``TemporalExtractor``: from the vocabulary as written, and with every
    word stripped of its diacritics (``plain``) for records typed without them.

    Speed matters (millions of records a night), so finding and reading are split:
    - two *scanners* find where atoms are. The digit scanner starts with ``[0-9]``, which
      lets the regex engine skip in C from one number to the next; it has no capture group
      inside its alternatives (saving and restoring groups slows a large regex that
      fails), and cheap lookaheads let most numbers fail before any alternative is tried.
      Word-led expressions ("hôm qua", "ba ngày") are found by an Aho-Corasick automaton
      of their first words, each confirmed by the word scanner;
    - a small *reader* regex per kind of atom then takes the found text apart.
    Neighbours are then joined: date + clock -> date-time, "từ A đến B" -> range.
    """

    name = "temporal"

    def __init__(self, vocab: TemporalVocab, plain: bool = False, english_units: frozenset = frozenset()):
        self.vocab = vocab
        self._plain = plain
        f = self._f = fold if plain else str  # the grammar's own words, as the records spell them
        # words that accented records may also type without their accents ("3 gio chieu")
        self._unaccented_too = frozenset() if plain else frozenset(vocab.also_without_accents)
        self._english_units = english_units  # "a"/"an" count these only: "an hour", not "An tháng"
        lower = lambda d: {_key(k): v for k, v in d.items()}  # noqa: E731
        self._months = lower(vocab.months)
        self._weekdays = lower(vocab.weekdays) | lower(vocab.weekday_abbreviations)
        self._weekday_after = lower(vocab.weekday_after)
        self._weekday_before = lower(vocab.weekday_before)
        self._relative_days = lower(vocab.relative_days)
        self._relative_periods = lower(vocab.relative_periods)
        self._pods = lower(vocab.parts_of_day)
        self._meridiems = lower(vocab.meridiems)
        self._pod_days = lower(vocab.part_of_day_days)
        self._units = lower(vocab.duration_units)
        self._duration_after = lower(vocab.duration_after)
        self._duration_before = lower(vocab.duration_before)
        self._number_words = {k: Decimal(str(v)) for k, v in lower(vocab.number_words).items()}
        self._vague = {_key(v) for v in vocab.vague_numbers}
        self._not_dates = set(vocab.not_dates)
        self._digit_scanner = self._compile_digit_scanner()
        self._word_scanner = self._compile_word_scanner()
        self._readers = self._compile_readers(self._words(cased=False))
        self._anchors = self._build_anchors()
        self._handlers = {kind: getattr(self, "_on_" + kind) for kind in list(self._readers) + ["rel_day", "rel_period"]}
        self._blocked_before = WordsBefore(vocab.number_blockers_before)
        self._blocked_after = words_after(vocab.number_blockers_after)
        self._fraction_cue = WordsBefore(vocab.fraction_cues)
        self._ordinal_before = WordsBefore(vocab.ordinal_nouns)
        self._duration_cue = WordsBefore(vocab.duration_cues)
        self._not_duration_after = words_after(vocab.not_duration_before)
        self._at_before = WordsBefore([f("lúc"), f("vào lúc"), "at"])
        self._opener = WordsBefore(list(vocab.range_openers) + list(vocab.paired_range_connectors))
        self._date_word_before = WordsBefore(_DATE_WORDS)
        self._pod_before = WordsBefore(self._clock_pods())
        self._modifier_before = WordsBefore(vocab.period_modifiers)
        self._modifiers = {_key(k): v for k, v in vocab.period_modifiers.items()}
        self._tomorrow_before = WordsBefore(["mai", f"mai {f('lúc')}"])
        self._duration_before_cue = WordsBefore(vocab.duration_before)
        self._ratio_cue = re.compile(rf"(?<!\w)(?:{phrases_pattern(vocab.ratio_cues) or '(?!)'})(?!\w)", re.IGNORECASE)
        joiners = phrases_pattern(j for j in vocab.datetime_joiners if j.strip(",").strip())
        self._join_gap = re.compile(rf"\s*,?\s*(?:(?:{joiners or '(?!)'})\s+)?", re.IGNORECASE)
        self._range_gap = re.compile(rf"\s*(?:{phrases_pattern(vocab.range_connectors)})\s*", re.IGNORECASE)
        never = re.compile(r"(?!)")
        self._paired_gap = defaultdict(lambda: never, {
            _key(opener): re.compile(rf"\s+(?:{phrases_pattern(connectors)})\s+", re.IGNORECASE)
            for opener, connectors in vocab.paired_range_connectors.items()
        })
        self._weekday_gap = re.compile(r"\s*,?\s*")

    def _spell(self, word: str) -> list[str]:
        """How records spell one of the grammar's own words ("giờ", "tháng")."""
        if word in self._unaccented_too:
            return [word, fold(word)]
        return [self._f(word)]

    def _ambiguous_pods(self) -> list[str]:
        """Without accents "toi" is also "tôi" (I) and "sang" also "sang" (to come over)."""
        if not self._plain:
            return []
        ambiguous = {fold(w) for w in self.vocab.not_after_clock_without_accents}
        return [p for p in self.vocab.parts_of_day if p in ambiguous]

    def _clock_pods(self) -> list[str]:
        """Parts of the day that surely are ones, wherever they stand."""
        ambiguous = set(self._ambiguous_pods())
        return [p for p in self.vocab.parts_of_day if p not in ambiguous]

    def _words(self, cased: bool) -> dict[str, str]:
        """Word alternations for the patterns, by name.

        ``cased``: every letter spelled in both cases ("[tT][hH]..."), for the scanners,
        compiled without the IGNORECASE flag; otherwise plain, for the readers (compiled
        with IGNORECASE, run on found spans only).
        """
        v = self.vocab

        def P(phrases, guard=False):
            return phrases_pattern(phrases, guard=guard, cased=cased) or "(?!)"

        words = {
            "months": P(v.months, guard=True),
            "weekdays": P(v.weekdays),
            "word_weekdays": P(x for x in v.weekdays if not any(c.isdigit() for c in x)),
            "weekday_before": P(v.weekday_before),
            "weekday_abbreviations": P(v.weekday_abbreviations),
            "weekday_after": P(v.weekday_after),
            "relative_days": P(v.relative_days),
            "relative_periods": P(v.relative_periods),
            "pods": P(v.parts_of_day, guard=True),
            "pod_days": P(v.part_of_day_days),
            "meridiems": P(v.meridiems, guard=True),
            "units": P(v.duration_units, guard=True),
            "duration_after": P(v.duration_after),
            "not_ago_after": P(v.not_ago_after),
            "numbers": P(list(v.number_words) + list(v.vague_numbers)),
            "hour_words": P(k for k, n in v.number_words.items() if float(n).is_integer() and 1 <= n <= 12),
            "day_block": P(v.day_only_blockers_after),
            "ordinal": P(["st", "nd", "rd", "th"]),
            "minute": P([*self._spell("phút"), "p"]),
        }
        # An ambiguous part of the day ("toi" without accents) counts only before the end of
        # the sentence, a number or a day word: "9 gio toi 7/3", "toi nay.", not "8h toi se den".
        clear, ambiguous = P(self._clock_pods(), guard=True), P(self._ambiguous_pods())
        date_words = P(_DATE_WORDS)
        connectors = P(v.range_connectors)
        then_day = rf"(?=\s*(?:[.,;:!?)]|$|[0-9]|(?:{words['pod_days']}|{words['weekdays']}|{date_words}|{connectors})(?!\w)))"
        then_end = r"(?=\s*(?:[.,;:!?)]|$|[0-9]))"
        day = rf"\s+{words['pod_days']}(?!\w)"
        words["clock_pods"] = f"(?:{clear}|{ambiguous}{then_day})"
        words["pod_day"] = f"(?:{clear}{day}|{ambiguous}{day}{then_end})"
        # the fixed words of the grammar
        for word in ("tháng", "năm", "này", "giờ", "phút", "rưỡi", "kém", "đồng hồ", "of", "h", "g", "t"):
            words[word] = P(self._spell(word))
        return words

    def _compile_digit_scanner(self) -> re.Pattern:
        """Where digit-led atoms are. Alternatives carry a name and no other group.

        The leading ``[0-9]`` consumes the number's FIRST digit: every alternative goes on
        from the second character. Vietnamese words that must precede the number ("tháng 3",
        "năm 2024", "thứ 2", "ngày 12") are checked by lookbehinds.
        """
        w = self._words(cased=True)
        after = lambda word: rf"(?<={phrases_pattern(self._spell(word), cased=True)}\s[0-9])"  # noqa: E731
        date_words = "|".join(after(x) for x in _DATE_WORDS)
        day_words = "|".join(after(x) for x in ("ngày", "mùng", "mồng"))
        year_after = rf"(?:(?:\s*,?\s*{w['năm']}\s+|\s*[/-]\s*){_YEAR})?"
        pod = rf"(?:\s+{w['clock_pods']}(?:\s+{w['pod_days']})?(?!\w))?"
        alternatives = [
            rf"(?P<iso>[0-9]{{3}}(?:-{_D2}-{_D2}|/{_D2}/{_D2}|\.{_D2}\.{_D2})(?:{w['t']}{_D2}:[0-9]{{2}}(?::[0-9]{{2}})?)?{_NUM_END})",
            rf"(?P<weekday_number>{after('thứ')}(?!\w)(?:\s+{w['weekday_after']}(?!\w))?)",
            rf"(?P<month>{after('tháng')}[0-9]?{year_after}{_NUM_END}(?:\s+{w['này']}(?!\w))?)",
            rf"(?P<year>{after('năm')}[0-9]{{3}}{_NUM_END})",
            rf"(?P<quarter>{after('quý')}(?<=[1-4]){year_after}{_NUM_END})",
            rf"(?P<vdate>[0-9]?\s+{w['tháng']}\s+{_D2}{year_after}{_NUM_END})",
            rf"(?P<en_dmy>[0-9]?{w['ordinal']}?\s+(?:{w['of']}\s+)?{w['months']}(?!\w)\.?(?:,?\s+{_YEAR})?{_NUM_END})",
            rf"(?P<day_range>[0-9]?\s*[-–]\s*{_D2}/{_D2}(?:/{_YEAR})?{_NUM_END})",
            rf"(?P<hour_range>[0-9]?\s*[-–]\s*{_D2}\s*(?:{w['h']}|{w['giờ']})(?!\w)(?:\s+{w['pods']}(?!\w))?)",
            rf"(?P<dmy>[0-9]?(?:/{_D2}/|-{_D2}-|\.{_D2}\.)(?:[0-9]{{4}}|[0-9]{{2}}){_NUM_END})",
            rf"(?P<my>[0-9]?/{_YEAR}{_NUM_END})",
            # "ngày 12-3" takes any separator; a bare pair only a slash ("2-1" is a score).
            rf"(?P<dm>(?:{date_words}|(?=[0-9]?/))[0-9]?[/.-]{_D2}{_NUM_END})",
            rf"(?P<day_only>(?:{day_words})[0-9]?{_NUM_END}(?!\s*{w['day_block']}(?!\w)))",
            rf"(?P<clock>(?:[0-9]?:[0-9]{{2}}(?::[0-9]{{2}})?"
            rf"|[0-9]?\s?{w['h']}(?:[0-9]{{2}}(?:\s?(?:{w['minute']}|')(?!\w))?)?"
            rf"|[0-9]?{w['g']}[0-9]{{2}}"
            rf"|[0-9]?\s+{self._hour_tail(w)}"
            rf"|[0-9]?(?=\s*{w['meridiems']}(?!\w))"
            rf")(?:\s*{w['meridiems']}(?!\w)|(?!\w)(?![.,:][0-9])){pod})",
            rf"(?P<dur>[0-9]{{0,3}}+(?:[.,][0-9]{{1,6}})?+(?:\s*[-–]\s*[0-9]{{1,6}}+(?:[.,][0-9]{{1,6}})?+)?{self._duration_tail(w)})",
        ]
        # One-character tests that let most numbers fail at once: a run of five digits or more
        # (phone, code) is never temporal; else a separator or a temporal word must follow,
        # or a word that takes a number ("tháng", "năm", "thứ", "ngày") must precede.
        v = self.vocab
        words_following = [*self._spell("tháng"), *self._spell("giờ"), "st", "nd", "rd", "th", "of"]
        can_follow = prefix_pattern(words_following + list(v.duration_units) + list(v.months) + list(v.meridiems), cased=True)
        last_before = char_class(w[-1] for x in ("tháng", "năm", "thứ", "quý") + _DATE_WORDS for w in self._spell(x))
        guard = (
            rf"(?![0-9]{{4}})(?:(?=[0-9]*+(?:[/.\-–:]|,[0-9]|\s?[hgHG](?![^\W\d_])|\s*{can_follow}))"
            rf"|(?<={last_before}\s[0-9]))"
        )
        # not inside "v1.2" or a code "COVID-19", "SPX-12"; "8h-17h", "8am-5pm" are ranges
        # and not an amount ("$1200 tháng trước" is 1200 dollars last month)
        start = r"[0-9](?<![\w.,/:$€£¥][0-9])(?<![A-Z]-[0-9])(?<![^\W\d_]{3}-[0-9])"
        return re.compile(start + guard + "(?:" + "|".join(alternatives) + ")")

    @staticmethod
    def _hour_tail(w: dict[str, str]) -> str:
        """After the hour: "giờ", then minutes, "rưỡi" (half past) or "kém N" (N to), or
        "đồng hồ" (hours long)."""
        return (
            rf"{w['giờ']}(?:\s+(?:{_D2}(?!\w)(?![/.-][0-9])(?:\s+{w['phút']})?|{w['rưỡi']}|{w['kém']}\s+{_D2}(?:\s+{w['phút']})?))?"
            rf"(?:\s+{w['đồng hồ']})?"
        )

    @staticmethod
    def _duration_tail(w: dict[str, str]) -> str:
        return (
            rf"\s*{w['units']}(?!\w)(?:\s+{_D2}\s*{w['units']}(?!\w))?(?:\s+{w['rưỡi']}(?!\w))?"
            rf"(?:\s+{w['duration_after']}(?!\w)(?!\s+{w['not_ago_after']}(?!\w)))?"
        )

    def _compile_word_scanner(self) -> re.Pattern:
        """Word-led atoms, tried only where an anchor word starts (see ``_build_anchors``)."""
        w = self._words(cased=True)
        pod = rf"(?:\s+{w['clock_pods']}(?:\s+{w['pod_days']})?(?!\w))?"
        alternatives = [
            rf"(?P<rel_day>{w['relative_days']})(?!\w)",
            rf"(?P<rel_period>{w['relative_periods']})(?!\w)",
            rf"(?P<weekday>(?:{w['weekday_before']}\s+)?{w['word_weekdays']}(?!\w)(?:\s+{w['weekday_after']}(?!\w))?"
            rf"|{w['weekday_abbreviations']}\s+{w['weekday_after']}(?!\w))",
            rf"(?P<pod_day>{w['pod_day']})",
            rf"(?P<en_my>{w['months']}\.?\s+{_YEAR}{_NUM_END})",
            rf"(?P<en_mdy>{w['months']}\.?\s+{_D2}{w['ordinal']}?(?:,?\s+{_YEAR})?(?!\w){_NUM_END})",
            rf"(?P<clock>{w['hour_words']}\s+{self._hour_tail(w)}(?!\w){pod})",
            rf"(?P<dur>{w['numbers']}{self._duration_tail(w)})",
        ]
        return re.compile("(?:" + "|".join(alternatives) + ")")

    def _compile_readers(self, w: dict[str, str]) -> dict[str, re.Pattern]:
        """One regex per kind of atom, with the groups its reader needs; run on a found span."""
        year_after = rf"(?:(?:\s*,?\s*{w['năm']}\s+|\s*[/-]\s*)(?P<y>[0-9]{{4}}))?"
        readers = {
            "iso": r"(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})(?:T(?P<h>[0-9]{1,2}):(?P<min>[0-9]{2})(?::[0-9]{2})?)?",
            "weekday": rf"(?:(?P<pre>{w['weekday_before']})\s+)?(?P<wd>{w['weekdays']}|{w['weekday_abbreviations']})(?:\s+(?P<post>{w['weekday_after']}))?",
            "pod_day": rf"(?P<pod>{w['pods']})\s+(?P<day>{w['pod_days']})",
            "month": rf"{w['tháng']}\s(?P<m>[0-9]{{1,2}}){year_after}(?:\s+{w['này']})?",
            "year": rf"{w['năm']}\s(?P<y>[0-9]{{4}})",
            "quarter": rf"{phrases_pattern(self._spell('quý'))}\s(?P<q>[1-4]){year_after}",
            "vdate": rf"(?P<d>[0-9]{{1,2}})\s+{w['tháng']}\s+(?P<m>[0-9]{{1,2}}){year_after}",
            "en_dmy": rf"(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>{w['months']})\.?(?:,?\s+(?P<y>[0-9]{{4}}))?",
            "en_mdy": rf"(?P<m>{w['months']})\.?\s+(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>[0-9]{{4}}))?",
            "en_my": rf"(?P<m>{w['months']})\.?\s+(?P<y>[0-9]{{4}})",
            "day_range": r"(?P<d1>[0-9]{1,2})\s*[-–]\s*(?P<d2>[0-9]{1,2})/(?P<m>[0-9]{1,2})(?:/(?P<y>[0-9]{4}))?",
            "hour_range": rf"(?P<h1>[0-9]{{1,2}})\s*[-–]\s*(?P<h2>[0-9]{{1,2}})\s*(?:h|{w['giờ']})(?:\s+(?P<pod>{w['pods']}))?",
            "dmy": r"(?P<d>[0-9]{1,2})(?P<sep>[/.-])(?P<m>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4}|[0-9]{2})",
            "my": r"(?P<m>[0-9]{1,2})/(?P<y>[0-9]{4})",
            "dm": r"(?P<d>[0-9]{1,2})[/.-](?P<m>[0-9]{1,2})",
            "day_only": r"(?P<d>[0-9]{1,2})",
            "clock": (
                r"(?:(?P<c_h>[0-9]{1,2}):(?P<c_m>[0-9]{2})(?::(?P<c_s>[0-9]{2}))?"
                rf"|(?P<h_h>[0-9]{{1,2}})\s?h(?:(?P<h_m>[0-9]{{2}})(?:\s?(?:{w['minute']}|'))?)?"
                r"|(?P<g_h>[0-9]{1,2})g(?P<g_m>[0-9]{2})"
                rf"|(?P<v_h>[0-9]{{1,2}}|{w['hour_words']})\s+{w['giờ']}(?:\s+(?:(?P<v_m>[0-9]{{1,2}})(?:\s+{w['phút']})?"
                rf"|(?P<v_half>{w['rưỡi']})|{w['kém']}\s+(?P<v_kem>[0-9]{{1,2}})(?:\s+{w['phút']})?))?"
                rf"(?:\s+(?P<v_clock>{w['đồng hồ']}))?"
                r"|(?P<b_h>[0-9]{1,2}))"
                rf"(?:\s*(?P<mer>{w['meridiems']}))?(?:\s+(?P<pod>{w['pods']})(?:\s+(?P<pod_day>{w['pod_days']}))?)?"
            ),
            "dur": (
                rf"(?P<n>[0-9]+(?:[.,][0-9]+)?|{w['numbers']})(?:\s*[-–]\s*(?P<n2>[0-9]+(?:[.,][0-9]+)?))?"
                rf"\s*(?P<u>{w['units']})(?:\s+(?P<n3>[0-9]{{1,2}})\s*(?P<u3>{w['units']}))?(?P<half>\s+{w['rưỡi']})?"
                rf"(?:\s+(?P<post>{w['duration_after']}))?"
            ),
        }
        return {name: re.compile(pattern, re.IGNORECASE) for name, pattern in readers.items()}

    def _build_anchors(self):
        """Aho-Corasick automaton of where word-led expressions can start.

        Fixed phrases anchor on their first word ("hôm" for "hôm qua"). Counted words are
        common ("ba", "hai", "an" is inside "thanh"), so they anchor together with the unit
        or "giờ" that must follow them ("ba ngày", "tám giờ"): far fewer false anchors.
        """
        v = self.vocab
        phrases = (
            list(v.relative_days) + list(v.relative_periods) + list(v.weekday_before) + list(v.parts_of_day)
            + [x for x in v.weekdays if not any(c.isdigit() for c in x)] + list(v.weekday_abbreviations)
            + list(v.months)
        )
        keys = {phrase.lower().split()[0] for phrase in phrases}
        after_count = [unit.lower() for unit in v.duration_units] + self._spell("giờ")
        for count in list(v.number_words) + list(v.vague_numbers):
            keys.update(f"{' '.join(count.lower().split())} {word}" for word in after_count)
        # Searched on the lower-cased text (one key per word keeps the automaton small and
        # fast); a hit counts in the usual spellings only: "Hôm", "HÔM", not "hÔm".
        automaton = ahocorasick.Automaton()
        for key in keys:
            spellings = frozenset(s for s in {key, key[0].upper() + key[1:], key.title(), key.upper()}
                                  if len(s) == len(key))
            automaton.add_word(key, (len(key), spellings))
        automaton.make_automaton()
        return automaton

    # --- extraction -------------------------------------------------------------------

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        ref = doc.ref_date
        atoms = []
        pos = record_first_digit(doc)
        if pos < 0:
            pos = len(text)
        while (m := self._digit_scanner.search(text, pos)) is not None:
            atom = self._read(m.lastgroup, text, m.start(), m.end(), ref)
            if atom is None:
                pos = m.start() + 1  # "quận 1 ngày 17 tháng 1": look again from the next number
            else:
                atoms.append(atom)
                pos = m.end()
        word_atoms = self._word_atoms(text, doc.lower, ref)
        if word_atoms:
            atoms = _without_overlaps(atoms + word_atoms)
        if not atoms:
            return []
        spans = []
        for atom in self._combine(text, self._join_datetimes(text, atoms, ref)):
            if atom.weak:
                continue
            start, end = doc.to_original(atom.start, atom.end)
            spans.append(Span(start, end, atom.label, atom.score, "rule", _render(atom.value, ref), self.name))
        return spans

    def _read(self, kind: str, text: str, start: int, end: int, ref) -> _Atom | None:
        """Take a found span apart with its reader and build the atom (None: not temporal)."""
        if kind in _GATED:  # the scanner found the number; the word before belongs to it
            start -= _GATED[kind]
            kind = "weekday" if kind == "weekday_number" else kind
        reader = self._readers.get(kind)
        m = None
        if reader is not None:
            m = reader.fullmatch(text, start, end)
            if m is None:
                return None
        return self._handlers[kind](m, text, start, end, ref)

    def _word_atoms(self, text: str, low: str, ref) -> list[_Atom]:
        atoms = []
        taken = 0
        size = len(text)
        for last, (length, spellings) in self._anchors.iter(low):
            start = last - length + 1
            if start < taken or (start and text[start - 1].isalnum()) or (last + 1 < size and text[last + 1].isalnum()):
                continue  # inside a word
            if text[start:last + 1] not in spellings:
                continue
            if text[last + 2:last + 3].isdigit() and low[start:last + 1] not in self._months:
                continue  # "ngày 12", "tháng 3": the digit scan has it ("March 12" is ours)
            m = self._word_scanner.match(text, start)
            if m is None:
                continue
            atom = self._read(m.lastgroup, text, start, m.end(), ref)
            if atom is not None:
                atoms.append(atom)
                taken = atom.end
        return atoms

    # --- joining neighbours -----------------------------------------------------------

    def _join_datetimes(self, text: str, atoms: list[_Atom], ref) -> list[_Atom]:
        out = []
        for atom in atoms:
            if atom.tomorrow_at is not None and (not out or out[-1].end <= atom.tomorrow_at):
                # a "mai" of its own, not the end of "sáng mai" or "ngày mai"
                atom.start = atom.tomorrow_at
                atom.value = _on_day(atom.value, _shift_days(ref, 1))
            elif isinstance(atom.value, _Cal) and atom.value.grain in ("week", "month", "quarter", "year"):
                modifier = self._modifier_before.find(text, atom.start)
                if modifier and (not out or out[-1].end <= modifier[0]):
                    # "đầu tuần này", "cuối tháng 3": the span takes the modifier; the value stays
                    # the period's, except that the end of a week is its weekend
                    weekend = atom.value.grain == "week" and self._modifiers[modifier[1]] == "END"
                    atom = _Atom(modifier[0], atom.end, atom.label, replace(atom.value, weekend=weekend),
                                 atom.score)
            elif _is_day(atom) and not atom.weak:
                pod = self._pod_before.find(text, atom.start)
                if pod and (not out or out[-1].end <= pod[0]):
                    # "chiều thứ 6", "sáng 12/3": that part of that day
                    rule = self._pods[pod[1]]
                    atom = _Atom(pod[0], atom.end, "TIME", _Clock(None, pod=rule.code, day=atom.value),
                                 atom.score, pod_rule=rule)
            joined = self._join_pair(text, out[-1], atom) if out else None
            if joined is not None:
                out[-1] = joined
            else:
                out.append(atom)
        return out

    def _join_pair(self, text: str, a: _Atom, b: _Atom) -> _Atom | None:
        if b.start - a.end > 12:
            return None
        gap = text[a.end:b.start]
        b_day = _is_day(b)
        if a.weekday and b_day and not b.weekday and self._weekday_gap.fullmatch(gap):
            # "Monday, March 18": the explicit date decides.
            return _Atom(a.start, b.end, "DATE", b.value, min(a.score, b.score), weak=b.weak)
        if not self._join_gap.fullmatch(gap):
            return None
        if _is_day(a) and _is_bare_clock(b) and not self._opens_range(text, b):
            return _Atom(a.start, b.end, "TIME", _on_day(b.value, a.value), min(a.score, b.score))
        if _is_bare_clock(a) and b_day:  # "lúc 7h 9/3": even a one-digit "9/3" is a date here
            return _Atom(a.start, b.end, "TIME", _on_day(a.value, b.value), min(a.score, b.score))
        if a.pod_rule is not None and a.value.hour is None and _is_bare_clock(b):
            # "chiều mai 3 giờ": the part of day applies to the clock that follows.
            clock = b.value
            hour = _shift(clock.hour, a.pod_rule) if b.pod_rule is None else clock.hour
            return _Atom(a.start, b.end, "TIME", _on_day(clock, a.value.day, hour), min(a.score, b.score))
        return None

    def _opens_range(self, text: str, atom: _Atom) -> bool:
        gap = self._range_gap.match(text, atom.end)
        return gap is not None and text[gap.end():gap.end() + 1].isdigit()

    def _combine(self, text: str, atoms: list[_Atom]) -> list[_Atom]:
        """Ranges: "từ A đến B", "A - B" with A and B of the same kind."""
        out = []
        i = 0
        while i < len(atoms):
            a = atoms[i]
            b = atoms[i + 1] if i + 1 < len(atoms) else None
            start = self._range_start(text, a, b) if b is not None and _same_kind(a, b) else None
            if start is not None:
                first, last = _inherit(a.value, b.value)
                out.append(_Atom(start, b.end, a.label, (first, last), min(a.score, b.score)))
                i += 2
                continue
            out.append(a)
            i += 1
        return out

    def _range_start(self, text: str, a: _Atom, b: _Atom) -> int | None:
        """Where the range "a .. b" starts (its opener included), or None if it is no range."""
        if self._range_gap.fullmatch(text, a.end, b.start):
            opener = self._opener.find(text, a.start)
            return opener[0] if opener else a.start
        if b.start - a.end <= 6:
            # "between 10am and 6pm", "giữa 8h và 10h": this connector needs its opener
            opener = self._opener.find(text, a.start)
            if opener and self._paired_gap[opener[1]].fullmatch(text, a.end, b.start):
                return opener[0]
        return None

    # --- atom readers: m is the reader's match over [start, end); None: not temporal -----

    def _on_iso(self, m, text, start, end, ref):
        year, month, day = int(m["y"]), int(m["m"]), int(m["d"])
        if not 1900 <= year <= 2099 or not _valid_day(year, month, day):
            return None
        cal = _Cal("day", year, month, day)
        if m["h"] is not None:
            hour, minute = int(m["h"]), int(m["min"])
            if hour > 23 or minute > 59:
                return None
            return _Atom(start, end, "TIME", _Clock(hour, minute, day=cal), 0.97)
        return _Atom(start, end, "DATE", cal, 0.97)

    def _on_rel_day(self, m, text, start, end, ref):
        return _Atom(start, end, "DATE", _shift_days(ref, self._relative_days[_key(text[start:end])]), 0.95)

    def _on_rel_period(self, m, text, start, end, ref):
        if self._plain and text[start].isupper() and not _SENTENCE_START.search(text, 0, start):
            return None  # "Viet Nam truoc tuan toi": a name, not "năm trước"
        unit, offset = self._relative_periods[_key(text[start:end])]
        return _Atom(start, end, "DATE", _shift_period(ref, unit, offset), 0.95)

    def _on_weekday(self, m, text, start, end, ref):
        wd = _key(m["wd"])
        ordinal_like = fold(wd).startswith("thu ")  # "thứ hai" is also "the second"
        if ordinal_like and m["pre"] is None and self._word_before(self._ordinal_before, text, start):
            return None  # "lần thứ 2", "người thứ ba" (but "sân bay Nội Bài thứ năm tuần trước")
        if (m["post"] is None and ordinal_like and not wd[-1].isdigit() and _LIST_POINT.match(text, end)
                and _SENTENCE_START.search(text, max(0, start - 6), start)):
            return None  # "Thứ hai, sản phẩm phải còn tem": secondly
        if _BARE_YEAR.match(text, end):
            return None  # "doanh thu nam 2022": revenue of the year, no Thursday
        offset = 0
        if m["pre"] is not None:
            offset = self._weekday_before[_key(m["pre"])]
        if m["post"] is not None:
            offset = self._weekday_after[_key(m["post"])]
        return _Atom(start, end, "DATE", _weekday_date(ref, self._weekdays[wd], offset), 0.9, weekday=True)

    def _on_pod_day(self, m, text, start, end, ref):
        pod = self._pods[_key(m["pod"])]
        day = _shift_days(ref, self._pod_days[_key(m["day"])])
        return _Atom(start, end, "TIME", _Clock(None, pod=pod.code, day=day), 0.9, pod_rule=pod)

    def _on_vdate(self, m, text, start, end, ref):
        return self._date_atom(text, start, end, int(m["d"]), int(m["m"]), m["y"], 0.97)

    def _on_month(self, m, text, start, end, ref):
        month = int(m["m"])
        if not 1 <= month <= 12:
            return None  # "lương tháng 13"
        year = int(m["y"]) if m["y"] else None
        return _Atom(start, end, "DATE", _Cal("month", year, month), 0.93)

    def _on_year(self, m, text, start, end, ref):
        year = int(m["y"])
        if not 1900 <= year <= 2099:
            return None
        return _Atom(start, end, "DATE", _Cal("year", year), 0.9)

    def _on_quarter(self, m, text, start, end, ref):
        year = int(m["y"]) if m["y"] else None
        return _Atom(start, end, "DATE", _Cal("quarter", year, quarter=int(m["q"])), 0.9)

    def _on_en_my(self, m, text, start, end, ref):
        if not m["m"][0].isupper():
            return None  # English month names are capitalised; "may" is also Vietnamese
        return _Atom(start, end, "DATE", _Cal("month", int(m["y"]), self._months[_key(m["m"])]), 0.95)

    def _on_en_mdy(self, m, text, start, end, ref):
        if not m["m"][0].isupper():
            return None
        return self._date_atom(text, start, end, int(m["d"]), self._months[_key(m["m"])], m["y"], 0.97)

    _on_en_dmy = _on_en_mdy

    def _on_day_range(self, m, text, start, end, ref):
        if self._blocked(text, start):
            return None
        month = int(m["m"])
        year = int(m["y"]) if m["y"] else None
        first, last = int(m["d1"]), int(m["d2"])
        if first >= last or not (_valid_day(year, month, first) and _valid_day(year, month, last)):
            return None
        value = (_Cal("day", year, month, first), _Cal("day", year, month, last))
        return _Atom(self._date_start(text, start), end, "DATE", value, 0.9)

    def _on_hour_range(self, m, text, start, end, ref):
        first, last = int(m["h1"]), int(m["h2"])
        if first > 23 or last > 24 or first == last:
            return None
        if m["pod"]:
            pod = self._pods[_key(m["pod"])]
            first, last = _shift(first, pod), _shift(last, pod)
        return _Atom(start, end, "TIME", (_Clock(first), _Clock(last % 24)), 0.9)

    def _on_dmy(self, m, text, start, end, ref):
        date_start = self._date_start(text, start)
        if date_start == start and self._blocked(text, start):
            return None
        if len(m["y"]) == 2:
            if m["sep"] == ".":
                return None  # "1.2.10" is a version, not a date
            year = 2000 + int(m["y"])
        else:
            year = int(m["y"])
            if not 1900 <= year <= 2100:
                return None
        return self._date_atom(text, date_start, end, int(m["d"]), int(m["m"]), year, 0.97, numeric=True,
                               date_word=date_start < start)

    def _on_my(self, m, text, start, end, ref):
        month = int(m["m"])
        if not 1 <= month <= 12 or self._blocked(text, start):
            return None
        return _Atom(start, end, "DATE", _Cal("month", int(m["y"]), month), 0.85)

    def _on_dm(self, m, text, start, end, ref):
        day, month = int(m["d"]), int(m["m"])
        date_start = self._date_start(text, start)
        if date_start < start:  # "ngày 12/3", "hôm 10-3"
            return self._date_atom(text, date_start, end, day, month, None, 0.95, numeric=True)
        if text[start:end] in self._not_dates:
            return None
        if (self._blocked(text, start)
                or self._blocked_after.match(text, end) or self._near_ratio(text, start)):
            return None
        atom = self._date_atom(text, start, end, day, month, None, 0.85, numeric=True, date_word=False)
        if atom is not None and len(m["d"]) == 1 and len(m["m"]) == 1:
            # "khoảng 3/4", "được 1/2" read as fractions ("3/4 bệnh nhân" is caught above).
            atom.weak = (text, start) in self._fraction_cue
        return atom

    def _on_day_only(self, m, text, start, end, ref):
        day = int(m["d"])
        date_start = self._date_start(text, start)
        if not 1 <= day <= 31:
            return None
        if ref is None:
            return _Atom(date_start, end, "DATE", _UNKNOWN_DAY, 0.85)
        # The day of the month nearest ref_date: "ngày 2" written on 12 March is 2 March.
        best = None
        for shift in (-1, 0, 1):
            year, month0 = divmod(ref.year * 12 + ref.month - 1 + shift, 12)
            if _valid_day(year, month0 + 1, day):
                candidate = date(year, month0 + 1, day)
                if best is None or abs((candidate - ref).days) < abs((best - ref).days):
                    best = candidate
        return _Atom(date_start, end, "DATE", _day(best) if best else _UNKNOWN_DAY, 0.85)

    def _on_clock(self, m, text, start, end, ref):
        minute, second, hour_form = 0, None, False
        if m["c_h"] is not None:
            hour, minute = int(m["c_h"]), int(m["c_m"])
            second = int(m["c_s"]) if m["c_s"] is not None else None
            if self._blocked(text, start) or self._near_ratio(text, start):
                return None  # "tỷ lệ 1:10", "pha theo tỉ lệ nước 1:3"
        elif m["h_h"] is not None:
            hour, minute, hour_form = int(m["h_h"]), int(m["h_m"] or 0), True
        elif m["g_h"] is not None:
            hour, minute = int(m["g_h"]), int(m["g_m"])
        elif m["v_h"] is not None:
            hour_text = _key(m["v_h"])
            hour = int(hour_text) if hour_text.isdigit() else int(self._number_words[hour_text])
            hour_form = True
            if m["v_m"] is not None:
                minute = int(m["v_m"])
            elif m["v_half"] is not None:
                minute = 30
            elif m["v_kem"] is not None:
                before = int(m["v_kem"])
                if not 0 < before < 60:
                    return None
                hour, minute = hour - 1, 60 - before
        else:
            hour = int(m["b_h"])
        meridiem = m["mer"]
        if minute > 59 or (second is not None and second > 59):
            return None
        if hour_form and meridiem is None and m["pod"] is None and (
            m["v_clock"] is not None
            or (text, start) in self._duration_cue
            or (hour > 24 or (hour == 24 and minute == 0)) and (text, start) not in self._at_before
        ):
            # "mất 2 giờ", "2 giờ đồng hồ", "giao nhanh 24h": a length of time.
            return _Atom(start, end, "DURATION", _duration({"H": hour, "MIN": minute}), 0.85)
        if hour > 23 or (meridiem is not None and not 1 <= hour <= 12):
            return None
        pod = None
        if meridiem is not None:
            hour = _shift(hour, self._meridiems[_key(meridiem)])
        if m["pod"] is not None:
            pod = self._pods[_key(m["pod"])]
            if meridiem is None:
                hour = _shift(hour, pod)
        day = None
        if m["pod_day"] is not None:
            day = _shift_days(ref, self._pod_days[_key(m["pod_day"])])
        atom = _Atom(start, end, "TIME", _Clock(hour, minute, second, day=day), 0.93, pod_rule=pod)
        if day is None:
            # "mai 8h": "mai" alone is also a name; it means tomorrow only before a clock, and
            # not in a name ("Bệnh viện Bạch Mai lúc 8h").
            tomorrow = self._word_before(self._tomorrow_before, text, start)
            if tomorrow:
                atom.tomorrow_at = tomorrow[0]
        return atom

    def _on_dur(self, m, text, start, end, ref):
        unit = self._units[_key(m["u"])]
        if start and text[start - 1].isspace() and self._blocked(text, start):
            return None  # "quận 8 năm ngoái": the number belongs to the word before it
        if unit == "D" and _DAY_OF_DATE.match(text, m.end("u")):
            return None  # "bệnh viện 115 ngày 7/2": this "ngày" introduces a date
        count_text = _key(m["n"])
        if count_text in ("a", "an") and _key(m["u"]) not in self._english_units:
            return None  # "Nghệ An tháng trước", "an ngay" (ăn ngay, eat now)
        if self._not_duration_after.match(text, m.end("u")):
            return None  # "Nhi Đồng 1 năm ngoái": "năm ngoái" takes no count
        vague = count_text in self._vague
        count = None if vague else self._count(count_text)
        direction = None
        before = self._duration_before_cue.find(text, start)
        if before is not None:
            direction = self._duration_before[before[1]]
        elif m["post"] is not None:
            direction = self._duration_after[_key(m["post"])]
        if direction is not None and m["n2"] is None and unit in ("D", "W", "M", "Y") and m["n3"] is None:
            # "3 ngày trước", "2 tuần nữa", "cách đây 1 tháng": a date, at the unit's grain.
            if before is not None:
                start = before[0]
            return _Atom(start, end, "DATE", self._moved(ref, unit, count, direction, m["half"]), 0.9)
        end = m.end("half") if m["half"] is not None else m.end("u3") if m["u3"] is not None else m.end("u")
        if vague:
            iso = f"P{'T' if unit in ('H', 'MIN', 'S') else ''}X{'M' if unit == 'MIN' else unit}"
            return _Atom(start, end, "DURATION", iso, 0.8)
        amounts = {unit: count}
        if m["half"] is not None:
            amounts[unit] += Decimal("0.5")
        if m["n3"] is not None:
            unit3 = self._units[_key(m["u3"])]
            if _UNITS.index(unit3) <= _UNITS.index(unit):
                end = m.end("u")  # "1 tiếng 2 ngày" is no single duration
            else:
                amounts[unit3] = int(m["n3"])
        if m["n2"] is not None:
            last = self._count(m["n2"])
            if last <= count:
                return None
            return _Atom(start, end, "DURATION", f"{_duration(amounts)}/{_duration({unit: last})}", 0.88)
        return _Atom(start, end, "DURATION", _duration(amounts), 0.93)

    # --- helpers ----------------------------------------------------------------------

    def _date_start(self, text: str, start: int) -> int:
        """Start of a date with its "ngày"/"hôm" word, which belongs to the DATE span."""
        word = self._date_word_before.find(text, start)
        return word[0] if word else start

    def _date_atom(self, text: str, start: int, end: int, day: int, month: int, year, score: float,
                   numeric: bool = False, date_word: bool = True):
        """A DATE atom for a day, or None when no such day exists.

        ``numeric`` dates ("12/3/2024") follow ``numeric_date_order``; a full numeric date
        whose preferred order is impossible is read the other way ("03/15/2024"). The span
        takes a "ngày"/"hôm" word before ``start`` unless ``date_word`` is False (the caller
        looked for one already and found none).
        """
        year = int(year) if isinstance(year, str) else year
        if numeric and self.vocab.numeric_date_order == "month_first":
            day, month = month, day
        if not _valid_day(year, month, day):
            if not (numeric and year is not None and _valid_day(year, day, month)):
                return None
            day, month = month, day
        if date_word:
            start = self._date_start(text, start)
        return _Atom(start, end, "DATE", _Cal("day", year, month, day), score)

    def _blocked(self, text: str, start: int) -> bool:
        """Is the number at ``start`` a version, score, rating, house or class number, ...?"""
        return self._word_before(self._blocked_before, text, start) is not None

    @staticmethod
    def _word_before(words: WordsBefore, text: str, start: int) -> tuple[int, str] | None:
        """(start, key) of one of ``words`` right before ``start``, unless it is capitalised
        inside a sentence: then it is part of a name ("Khánh Hòa 03/02/2024", "sân bay Nội
        Bài thứ năm", "Bệnh viện Bạch Mai lúc 8h")."""
        word = words.find(text, start)
        if word is None or (text[word[0]].isupper() and not _SENTENCE_START.search(text, 0, word[0])):
            return None
        return word

    def _near_ratio(self, text: str, start: int) -> bool:
        return self._ratio_cue.search(text, max(0, start - 30), start) is not None

    def _count(self, text: str) -> int | Decimal:
        if text in self._number_words:
            return self._number_words[text]
        return int(text) if text.isdigit() else Decimal(text.replace(",", "."))

    @staticmethod
    def _moved(ref: date | None, unit: str, count: Decimal | None, direction: int, half) -> _Cal:
        grain = {"D": "day", "W": "week", "M": "month", "Y": "year"}[unit]
        if ref is None or count is None or half or count != int(count):
            return _Cal(grain, known=False)
        n = int(count) * direction
        if abs(n) > 100_000:  # "99999 năm trước": beyond any calendar
            return _Cal(grain, known=False)
        if unit == "D":
            return _shift_days(ref, n)
        return _shift_period(ref, {"W": "week", "M": "month", "Y": "year"}[unit], n)


class TemporalExtractor(AccentAwareExtractor):
    """The `temporal` rule: see the module docstring. Records typed without diacritics
    ("hom qua 3h chieu") are read with the same vocabulary stripped of them."""

    name = "temporal"
    labels = ("DATE", "TIME", "DURATION")

    def __init__(self, vocab: TemporalVocab):
        self.vocab = vocab
        english = frozenset(unit.lower() for unit in vocab.duration_units if unit.isascii())
        super().__init__(
            _TemporalGrammar(with_unaccented_spellings(vocab, vocab.also_without_accents), english_units=english),
            _TemporalGrammar(fold_vocab(vocab), plain=True, english_units=english),
        )


# Scanner kinds found at the number after a word that belongs to them: length of "word ".
_GATED = {"weekday_number": len("thứ "), "month": len("tháng "), "year": len("năm "), "quarter": len("quý ")}


def _without_overlaps(atoms: list[_Atom]) -> list[_Atom]:
    """Document order; of two overlapping atoms the one starting first (then longer) stays."""
    atoms.sort(key=lambda a: (a.start, -a.end))
    kept = []
    for atom in atoms:
        if kept and atom.start < kept[-1].end:
            continue
        kept.append(atom)
    return kept


def _shift(hour: int, pod: PartOfDay) -> int:
    if hour in pod.pm_hours:
        return hour + 12
    if pod.midnight and hour == 12:
        return 0
    return hour


def _is_day(atom: _Atom) -> bool:
    return atom.label == "DATE" and isinstance(atom.value, _Cal) and atom.value.grain == "day"


def _is_bare_clock(atom: _Atom) -> bool:
    return atom.label == "TIME" and isinstance(atom.value, _Clock) and atom.value.day is None and atom.value.hour is not None


def _same_kind(a: _Atom, b: _Atom) -> bool:
    if a.label != b.label or isinstance(a.value, tuple) or isinstance(b.value, tuple):
        return False
    if isinstance(a.value, _Cal) and isinstance(b.value, _Cal):
        return a.value.grain == b.value.grain
    if isinstance(a.value, _Clock) and isinstance(b.value, _Clock):
        return a.value.hour is not None and b.value.hour is not None
    return False


def _inherit(first, last):
    """A range's ends share what only one of them says: "12/3 - 15/3/2024", "8h - 17h ngày 5/3"."""
    if isinstance(first, _Cal) and first.grain in ("day", "month") and first.known and last.known:
        if first.year is None and last.year is not None:
            earlier = (first.month, first.day) > (last.month, last.day)
            first = replace(first, year=last.year - 1 if earlier else last.year)
        elif last.year is None and first.year is not None:
            later = (last.month, last.day) < (first.month, first.day)
            last = replace(last, year=first.year + 1 if later else first.year)
    if isinstance(first, _Clock) and first.day is None and last.day is not None:
        first = _on_day(first, last.day)
    return first, last


@register_rule("temporal")
def build_temporal(options: dict | None = None) -> TemporalExtractor:
    return TemporalExtractor(load_rule_settings(TemporalVocab, "temporal", options))
