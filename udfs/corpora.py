"""Readers that turn NER corpora into :class:`~.examples.Example` records, and the registry of
the shared corpora (``conf/datasets.yaml``).

Every reader is a generator of ``Example`` with a stable ``example_id``:
``<dataset>:<split>:<n>`` for the n-th sentence of a file (counted from 0, malformed
sentences included, so ids do not move when a problem is fixed), with the file's stem
inserted when a split has several files (``btc:train:a:17``); UNER and record readers use
the corpus's own id (``uner_en_ewt:dev:answers-...-0001``).

Formats:

- CoNLL columns (:func:`read_conll`): one token per line, the label in a chosen column
  (CrossNER, WNUT-17, BTC: ``token<TAB>label``; SEC filings: ``token POS chunk label``;
  two-column Vietnamese files, where word-level tokens keep their ``_``). A blank line ends a
  sentence; ``-DOCSTART-`` lines are skipped (and end a sentence). A line that starts with
  ``#`` is a token (a hashtag), never a comment. Fields are stripped of surrounding
  whitespace. ``encoding="io"`` converts IO/IOB1 tags to BIO (see ``bio.io_to_bio``: IO
  cannot separate two touching entities of the same type, they become one).
- UNER ``.iob2`` (:func:`read_uner`): ``# sent_id`` / ``# text`` comments, then
  ``index<TAB>token<TAB>BIO<TAB>-<TAB>annotator``; tokens are aligned to ``# text``.
- JSON / JSONL spans (:func:`read_jsonl_spans`): doccano-style ``{"text", "label": [[start,
  end, type], ...]}`` (also ``labels``, ``entities`` or ``gold``, and span dicts).
- Sample-generator records (:func:`read_sample_records`, :func:`read_sample_parquet`):
  ``text`` + ``gold`` spans.

Span sources are tokenized with ``simple_tokenize`` and every token is cut where a span starts
or ends, so each gold span is exactly a run of whole tokens: no entity is lost or widened.

Errors: a malformed line or record raises :class:`CorpusFormatError` naming the file and
line. With ``on_error="collect"`` and a ``problems`` list, each problem is appended there as a
:class:`CorpusProblem` instead and reading goes on: a malformed CoNLL/UNER LINE is left out of
its sentence (a sentence left with no line is left out too, and reported); a malformed
span RECORD is left out whole. Labels are read as they are: repair BIO with
``bio.repair_examples`` and map types with ``label_maps.map_example`` afterwards.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

import yaml

from .bio import BIOError, io_to_bio, parse_label
from .config import ConfigError, from_dict
from .examples import Example, align_tokens, bio_from_spans, simple_tokenize
from .sample_generator import MAX_TEXT_CHARS  # texts over it are defects, as in the extraction job

ON_ERROR = ("raise", "collect")
FORMATS = ("conll", "uner", "jsonl_spans", "sample_parquet")
ENCODINGS = ("bio", "io")
DELIMITERS = ("auto", "tab", "whitespace")
DOCSTART = "-DOCSTART-"
SHARED_DATA_ENV = "NERLAKE_SHARED_DATA"
_SPAN_KEYS = ("label", "labels", "entities", "gold")


# --------------------------------------------------------------------------- errors

@dataclass(frozen=True, slots=True)
class CorpusProblem:
    path: str
    line: int | None  # 1-based line of the file, or record number for record sources
    reason: str
    example_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


class CorpusFormatError(ValueError):
    """A malformed line or record; ``.problem`` says where and why."""

    def __init__(self, problem: CorpusProblem):
        self.problem = problem
        super().__init__(str(problem))


class _Problems:
    """Raises each problem, or appends it to the caller's list in ``collect`` mode."""

    def __init__(self, on_error: str, problems: list | None):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
        if on_error == "collect" and problems is None:
            raise ValueError("on_error='collect' needs a problems list to append to")
        self.collect = on_error == "collect"
        self.problems = problems

    def add(self, path, line: int | None, reason: str, example_id: str | None = None) -> None:
        problem = CorpusProblem(str(path), line, reason, example_id)
        if not self.collect:
            raise CorpusFormatError(problem)
        self.problems.append(problem)


def _lines(path: Path, errors: _Problems) -> Iterator[tuple[int, str | None]]:
    """``(line number, text without the newline)``; None for a line that is not UTF-8."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.add(path, n, f"not UTF-8 ({exc.reason} at byte {exc.start})")
                yield n, None
                continue
            if n == 1:
                line = line.lstrip("\ufeff")
            yield n, line.rstrip("\r\n")


# --------------------------------------------------------------------------- CoNLL

@dataclass
class _Sentence:
    first_line: int = 0
    had_lines: bool = False  # any non-blank line, valid or not
    tokens: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def _split_fields(line: str, delimiter: str) -> list[str]:
    """The stripped fields of a line; [] for a blank line."""
    if not line.strip():
        return []
    if delimiter == "tab" or (delimiter == "auto" and "\t" in line):
        return [f.strip() for f in line.split("\t")]
    return line.split()


def read_conll(path, *, dataset: str, split: str, lang: str = "", domain: str = "",
               label_column: int = -1, columns: int | None = None, delimiter: str = "auto",
               encoding: str = "bio", id_prefix: str | None = None,
               on_error: str = "raise", problems: list | None = None) -> Iterator[Example]:
    """Sentences of a CoNLL-style column file.

    ``label_column``: index of the label among a line's fields (the token is field 0).
    ``columns``: fields each line must have; None: as many as the file's first token line.
    ``delimiter``: ``tab``, ``whitespace`` or ``auto`` (tab if the line has one).
    ``encoding``: ``bio``, or ``io`` to convert IO/IOB1 tags to BIO.
    """
    _check_choice("delimiter", delimiter, DELIMITERS)
    _check_choice("encoding", encoding, ENCODINGS)
    errors = _Problems(on_error, problems)
    path = Path(path)
    prefix = id_prefix or f"{dataset}:{split}"
    index = 0
    sent = _Sentence()

    def finish():
        nonlocal index, sent
        done, sent = sent, _Sentence()
        if not done.had_lines:
            return None
        example_id = f"{prefix}:{index}"
        index += 1
        if not done.tokens:
            errors.add(path, done.first_line, "sentence has no valid line; left out", example_id)
            return None
        labels = io_to_bio(done.labels) if encoding == "io" else done.labels
        return Example(dataset, split, example_id, lang, domain, done.tokens, labels)

    for n, line in _lines(path, errors):
        fields = None if line is None else _split_fields(line, delimiter)
        if fields is not None and (not fields or fields[0] == DOCSTART):
            ex = finish()  # a blank or -DOCSTART- line ends the sentence
            if ex is not None:
                yield ex
            continue
        if not sent.had_lines:
            sent.first_line, sent.had_lines = n, True
        if fields is None:  # not UTF-8, already reported
            continue
        if columns is None:
            columns = len(fields)
            if columns < 2:
                errors.add(path, n, f"expected a token and a label, found {len(fields)} field(s)")
                columns = None
                continue
            if not -columns <= label_column < columns:
                raise ValueError(f"{path}: label_column {label_column} is out of range for {columns} columns")
        if len(fields) != columns:
            errors.add(path, n, f"expected {columns} columns, found {len(fields)}")
            continue
        token, label = fields[0], fields[label_column]
        if not token:
            errors.add(path, n, "empty token")
            continue
        try:
            parse_label(label)
        except BIOError as exc:
            errors.add(path, n, str(exc))
            continue
        sent.tokens.append(token)
        sent.labels.append(label)
    ex = finish()
    if ex is not None:
        yield ex


# --------------------------------------------------------------------------- UNER

@dataclass
class _UnerSentence(_Sentence):
    sent_id: str | None = None
    text: str | None = None


def _comment_value(line: str, key: str) -> str | None:
    """The value of ``# key = value``, or None when the comment is another key."""
    body = line[1:].lstrip()
    if not body.startswith(key):
        return None
    rest = body[len(key):].lstrip()
    return rest[1:].strip() if rest.startswith("=") else None


def read_uner(path, *, dataset: str, split: str, lang: str = "", domain: str = "",
              id_prefix: str | None = None, on_error: str = "raise",
              problems: list | None = None) -> Iterator[Example]:
    """Sentences of a UNER ``.iob2`` file; ids from ``# sent_id``, text from ``# text``."""
    errors = _Problems(on_error, problems)
    path = Path(path)
    prefix = id_prefix or f"{dataset}:{split}"
    index = 0
    seen_ids: set[str] = set()
    sent = _UnerSentence()

    def finish():
        nonlocal index, sent
        done, sent = sent, _UnerSentence()
        if not done.had_lines:
            return None
        example_id = f"{prefix}:{done.sent_id if done.sent_id else index}"
        index += 1
        if done.sent_id is not None:
            if done.sent_id in seen_ids:
                errors.add(path, done.first_line, f"duplicate sent_id {done.sent_id!r}; left out", example_id)
                return None
            seen_ids.add(done.sent_id)
        if not done.tokens:
            errors.add(path, done.first_line, "sentence has no valid token line; left out", example_id)
            return None
        text, offsets = "", []
        if done.text is not None:
            try:
                offsets = align_tokens(done.text, done.tokens)
                text = done.text
            except ValueError as exc:
                # the tokens and labels are sound: keep them, over text rebuilt from tokens
                errors.add(path, done.first_line, f"tokens do not match '# text' ({exc}); text rebuilt from tokens",
                           example_id)
        return Example(dataset, split, example_id, lang, domain, done.tokens, done.labels,
                       text=text, offsets=offsets)

    for n, line in _lines(path, errors):
        if line is not None and not line.strip():
            ex = finish()
            if ex is not None:
                yield ex
            continue
        if not sent.had_lines:
            sent.first_line, sent.had_lines = n, True
        if line is None:
            continue
        if line.startswith("#"):
            if sent.tokens:
                errors.add(path, n, "comment line inside a sentence")
                continue
            sent_id = _comment_value(line, "sent_id")
            text = _comment_value(line, "text")
            if sent_id is not None:
                sent.sent_id = sent_id
            elif text is not None:
                sent.text = text
            continue
        fields = line.split("\t")
        if len(fields) != 5:
            errors.add(path, n, f"expected 5 tab-separated columns (index, token, label, -, annotator), "
                                f"found {len(fields)}")
            continue
        position, token, label = fields[0].strip(), fields[1], fields[2].strip()
        if not token.strip():
            errors.add(path, n, "empty token")
            continue
        try:
            parse_label(label)
        except BIOError as exc:
            errors.add(path, n, str(exc))
            continue
        expected = len(sent.tokens) + 1
        if position != str(expected):
            # the token itself is sound: keep it, but say a line is missing or out of order
            errors.add(path, n, f"token index {position!r}, expected {expected}")
        sent.tokens.append(token)
        sent.labels.append(label)
    ex = finish()
    if ex is not None:
        yield ex


# --------------------------------------------------------------------------- span records

def tokenize_for_spans(text: str, spans: list[dict]) -> list[tuple[str, int, int]]:
    """``simple_tokenize`` with every token also cut at span starts and ends, so each span
    is a run of whole tokens ("0,65mx107cm" with spans on "0,65m" and "107cm" -> 3 tokens)."""
    cuts = sorted({s["start"] for s in spans} | {s["end"] for s in spans})
    if not cuts:
        return simple_tokenize(text)
    out = []
    for tok, start, end in simple_tokenize(text):
        pieces = [c for c in cuts if start < c < end]
        if not pieces:
            out.append((tok, start, end))
            continue
        for a, b in zip([start] + pieces, pieces + [end]):
            out.append((text[a:b], a, b))
    return out


def _parse_span(raw, text: str) -> dict:
    """One span as ``{"start", "end", "label"}``; raises ValueError saying what is wrong."""
    if isinstance(raw, dict):
        start = raw.get("start", raw.get("start_offset"))
        end = raw.get("end", raw.get("end_offset"))
        label = raw.get("label", raw.get("type"))
    elif isinstance(raw, (list, tuple)) and len(raw) == 3:
        start, end, label = raw
    else:
        raise ValueError(f"span {raw!r} is neither [start, end, type] nor a start/end/label mapping")
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"span {raw!r}: {name} is not an integer")
    if not 0 <= start < end <= len(text):
        raise ValueError(f"span {raw!r} is outside the text (length {len(text)}) or empty")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"span {raw!r} has no type")
    if not text[start:end].strip():
        raise ValueError(f"span {raw!r} covers only whitespace")
    return {"start": start, "end": end, "label": label.strip()}


def _record_spans(record: dict, text: str) -> list[dict]:
    keys = [k for k in _SPAN_KEYS if k in record]
    if len(keys) > 1:
        raise ValueError(f"record has several span fields ({', '.join(keys)})")
    raw_spans = record[keys[0]] if keys else []
    if raw_spans is None:
        raw_spans = []
    if not isinstance(raw_spans, (list, tuple)):
        raise ValueError(f"{keys[0]} is not a list of spans")
    spans = sorted((_parse_span(raw, text) for raw in raw_spans), key=lambda s: (s["start"], s["end"]))
    for a, b in zip(spans, spans[1:]):
        if b["start"] < a["end"]:
            raise ValueError(f"spans overlap: {a} and {b}")
    return spans


def _example_from_record(record, *, dataset: str, split: str, example_id: str, lang: str, domain: str,
                         max_chars: int | None) -> Example:
    """Raises ValueError saying what is wrong with the record."""
    if not isinstance(record, dict):
        raise ValueError(f"record is not an object: {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError("record has no text" if text is None else f"text is not a string: {text!r}")
    if not text.strip():
        raise ValueError("text is blank")
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(f"text has {len(text)} characters, over the limit of {max_chars}")
    spans = _record_spans(record, text)
    words, labels, offsets = bio_from_spans(text, spans, tokens=tokenize_for_spans(text, spans))
    lang = record.get("lang") or lang
    domain = record.get("domain") or domain
    return Example(dataset, split, example_id, lang, domain, words, labels, text=text, offsets=offsets)


def _record_id(record, fallback) -> str:
    rid = record.get("id") if isinstance(record, dict) else None
    return str(rid) if rid is not None and str(rid) != "" else str(fallback)


def _iter_json_records(path: Path, errors: _Problems) -> Iterator[tuple[int, object]]:
    """``(line or record number, parsed object)``: a JSON array file, else JSON Lines."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"[":
        try:
            records = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            errors.add(path, exc.lineno, f"bad JSON: {exc.msg}")
            return
        except UnicodeDecodeError as exc:
            errors.add(path, None, f"not UTF-8 ({exc.reason} at byte {exc.start})")
            return
        yield from enumerate(records, 1)
        return
    for n, line in _lines(path, errors):
        if line is None or not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            errors.add(path, n, f"bad JSON: {exc.msg}")


def read_jsonl_spans(path, *, dataset: str, split: str, lang: str = "", domain: str = "",
                     id_prefix: str | None = None, max_chars: int | None = None,
                     on_error: str = "raise", problems: list | None = None) -> Iterator[Example]:
    """Records of a JSON Lines (or JSON array) file of ``{"text", "label": [[start, end, type]]}``.
    A record's ``id``, ``lang`` and ``domain`` are used when present; line numbers are
    the file's lines (JSONL) or record numbers (JSON array)."""
    errors = _Problems(on_error, problems)
    path = Path(path)
    prefix = id_prefix or f"{dataset}:{split}"
    seen: set[str] = set()
    for index, (n, record) in enumerate(_iter_json_records(path, errors)):
        example_id = f"{prefix}:{_record_id(record, index)}"
        if example_id in seen:
            errors.add(path, n, "duplicate id; left out", example_id)
            continue
        seen.add(example_id)
        try:
            yield _example_from_record(record, dataset=dataset, split=split, example_id=example_id,
                                       lang=lang, domain=domain, max_chars=max_chars)
        except ValueError as exc:
            errors.add(path, n, f"{exc}; left out", example_id)


def read_sample_records(records: Iterable[dict], *, dataset: str = "sample", split: str = "train",
                        source: str = "records", max_chars: int | None = MAX_TEXT_CHARS,
                        on_error: str = "raise", problems: list | None = None) -> Iterator[Example]:
    """Examples from the sample generator's records (``generate_records`` or its parquet rows):
    ``id``, ``text``, ``lang``, ``domain``, ``gold`` spans. Its injected defects (null, blank or
    over-long text, duplicate id) are problems; ``line`` is the record's position (from 1)."""
    errors = _Problems(on_error, problems)
    prefix = f"{dataset}:{split}"
    seen: set[str] = set()
    for n, record in enumerate(records, 1):
        rid = record.get("id") if isinstance(record, dict) else None
        if rid is None or str(rid) == "":
            errors.add(source, n, "record has no id; left out")
            continue
        example_id = f"{prefix}:{rid}"
        if example_id in seen:
            errors.add(source, n, f"duplicate id {rid!r}; left out", example_id)
            continue
        seen.add(example_id)
        try:
            yield _example_from_record(record, dataset=dataset, split=split, example_id=example_id,
                                       lang="", domain="", max_chars=max_chars)
        except ValueError as exc:
            errors.add(source, n, f"{exc}; left out", example_id)


def read_sample_parquet(path, *, dataset: str = "sample", split: str = "train",
                        max_chars: int | None = MAX_TEXT_CHARS, batch_size: int = 10_000,
                        on_error: str = "raise", problems: list | None = None) -> Iterator[Example]:
    """:func:`read_sample_records` over a parquet file (or folder) the generator wrote."""
    import pyarrow.dataset as pads

    def rows():
        for batch in pads.dataset(str(path), format="parquet").to_batches(batch_size=batch_size):
            yield from batch.to_pylist()

    return read_sample_records(rows(), dataset=dataset, split=split, source=str(path), max_chars=max_chars,
                               on_error=on_error, problems=problems)


# --------------------------------------------------------------------------- registry

@dataclass
class SplitSpec:
    files: list[str] = field(metadata={"check": bool, "help": "a non-empty list of paths"})
    sentences: int | None = None  # expected counts, from the corpus's SOURCE.md
    entities: int | None = None


@dataclass
class DatasetSpec:
    name: str
    format: str = field(metadata={"choices": list(FORMATS)})
    lang: str
    domain: str
    label_map: str
    splits: dict[str, SplitSpec] = field(metadata={"check": bool, "help": "at least one split"})
    encoding: str = field(default="bio", metadata={"choices": list(ENCODINGS)})
    delimiter: str = field(default="auto", metadata={"choices": list(DELIMITERS)})
    columns: int | None = field(default=None, metadata={"check": lambda v: v >= 2, "help": ">= 2"})
    label_column: int = -1
    source: str = ""  # the SOURCE.md the counts come from
    notes: str = ""


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def load_registry(path=None) -> dict[str, DatasetSpec]:
    """Dataset name -> :class:`DatasetSpec`, from ``path`` (None: the packaged ``conf/datasets.yaml``)."""
    from .label_maps import available_label_maps

    if path is None:
        raw, where = (resources.files("nerlake.conf") / "datasets.yaml").read_text(encoding="utf-8"), "conf/datasets.yaml"
    else:
        raw, where = Path(path).read_text(encoding="utf-8"), str(path)
    data = yaml.safe_load(raw) or {}
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise ConfigError(f"{where}: expected a top-level 'datasets' mapping")
    maps = set(available_label_maps())
    registry = {}
    for name, entry in data["datasets"].items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: datasets.{name}: expected a mapping")
        spec = from_dict(DatasetSpec, {"name": name, **entry}, prefix=f"datasets.{name}")
        if spec.label_map not in maps:
            raise ConfigError(f"{where}: datasets.{name}.label_map: no label map {spec.label_map!r}; "
                              f"packaged maps: {', '.join(sorted(maps))}")
        if spec.columns is not None and not -spec.columns <= spec.label_column < spec.columns:
            raise ConfigError(f"{where}: datasets.{name}.label_column: {spec.label_column} is out of range "
                              f"for {spec.columns} columns")
        registry[name] = spec
    return registry


def shared_data_root(path=None) -> Path:
    """The shared corpora folder: ``path``, else ``$NERLAKE_SHARED_DATA``, else
    ``../shared/data`` next to the repository root."""
    if path is not None:
        return Path(path)
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def read_dataset(name: str, split: str, data_root=None, *, registry: dict[str, DatasetSpec] | None = None,
                 on_error: str = "raise", problems: list | None = None) -> Iterator[Example]:
    """The examples of one registered dataset split, read from ``data_root``
    (see :func:`shared_data_root`), in file order."""
    registry = registry if registry is not None else load_registry()
    if name not in registry:
        raise ConfigError(f"unknown dataset {name!r}; registered: {', '.join(sorted(registry))}")
    spec = registry[name]
    if split not in spec.splits:
        raise ConfigError(f"dataset {name!r} has no split {split!r}; it has: {', '.join(spec.splits)}")
    _Problems(on_error, problems)  # check the arguments now, not at the first problem
    root = shared_data_root(data_root)
    files = spec.splits[split].files
    paths = [root / f for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"dataset {name!r} split {split!r}: missing {', '.join(missing)} "
                                f"(data root {root}; set {SHARED_DATA_ENV} to move it)")
    return _read_files(spec, split, paths, on_error, problems)


def _read_files(spec: DatasetSpec, split: str, paths: list[Path], on_error, problems) -> Iterator[Example]:
    common = dict(dataset=spec.name, split=split, on_error=on_error, problems=problems)
    for path in paths:
        prefix = f"{spec.name}:{split}:{path.stem}" if len(paths) > 1 else None
        if spec.format == "conll":
            yield from read_conll(path, lang=spec.lang, domain=spec.domain, label_column=spec.label_column,
                                  columns=spec.columns, delimiter=spec.delimiter, encoding=spec.encoding,
                                  id_prefix=prefix, **common)
        elif spec.format == "uner":
            yield from read_uner(path, lang=spec.lang, domain=spec.domain, id_prefix=prefix, **common)
        elif spec.format == "jsonl_spans":
            yield from read_jsonl_spans(path, lang=spec.lang, domain=spec.domain, id_prefix=prefix, **common)
        else:
            yield from read_sample_parquet(path, **common)
