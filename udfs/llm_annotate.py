"""Ask an LLM to annotate raw passages with entities and their types (open-domain NER data).

The annotation job runs :func:`annotate_passages` inside each executor:

- passages are cut into chunks of whole sentences (:func:`chunk_passages`), 150-256 tokens
  by default, so each request is short enough for the model to list every entity;
- each chunk is one ``POST {base_url}/chat/completions`` (OpenAI-compatible) made by
  :class:`LlmClient` with the standard library only, retried with exponential backoff and
  jitter on 429, 5xx, timeouts and connection errors (``Retry-After`` honoured), never on
  other 4xx;
- each chunk is identified by ``passage_hash = sha256(model, prompt_template,
  target_language, chunk text)``: the job fills ``cache`` with the hashes of the responses
  it already holds (rows whose ``error`` is null), so a re-run pays for nothing twice and
  retries only what failed;
- every chunk sent gives one :class:`Response` record, failures included (``error`` set).

Parsing and filtering the answers is :mod:`nerlake.udfs.generated_filters`.
"""
from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import random
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .config import ConfigError, from_dict
from .examples import simple_tokenize

# Names the prompt uses for the target language; other codes are written as they are.
LANGUAGE_NAMES = {
    "vi": "Vietnamese", "en": "English", "id": "Indonesian", "ms": "Malay", "tl": "Tagalog",
    "th": "Thai", "lo": "Lao", "km": "Khmer", "my": "Burmese", "zh": "Chinese", "ja": "Japanese",
    "ko": "Korean",
}

# --------------------------------------------------------------------------- chunking

Tokenize = Callable[[str], Sized]


# A sentence ends after . ! ? … (and any closing quote or bracket) followed by whitespace or
# the end of the text, or at a newline. Dots inside numbers and codes ("1.200.000", "v1.2")
# are not followed by whitespace, so they never end a sentence.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s|$)|\n")
# "TP. HCM", "Q. 1", "PGS. TS. Lê Văn A", "Nguyễn V. An": a dot after one of these, or after
# a single letter, abbreviates; it does not end the sentence.
_ABBREVIATIONS = frozenset({
    "tp", "q", "p", "tx", "tt", "h", "ths", "ts", "pgs", "gs", "bs", "ks", "cn", "th", "đc", "st",
    "mr", "mrs", "ms", "dr", "co", "ltd", "inc", "jr", "sr", "vs", "no", "tel",
})
_WORD_BEFORE = re.compile(r"(\w+)$")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` of each sentence of ``text``, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.group() == "." and _abbreviation_before(text, m.start()):
            continue
        _add_trimmed(spans, text, start, m.end())
        start = m.end()
    _add_trimmed(spans, text, start, len(text))
    return spans


def _abbreviation_before(text: str, dot: int) -> bool:
    word = _WORD_BEFORE.search(text, max(0, dot - 8), dot)
    return word is not None and (len(word.group(1)) == 1 or word.group(1).lower() in _ABBREVIATIONS)


def _add_trimmed(spans: list, text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # offsets into the passage, end exclusive; text == passage[start:end]
    end: int
    text: str
    n_tokens: int  # sum of its sentences' token counts
    oversized: bool = False  # one sentence longer than max_tokens, kept whole


def chunk_passages(text: str, tokenize: Tokenize | None = None, min_tokens: int = 150,
                   max_tokens: int = 256) -> list[Chunk]:
    """Cut ``text`` into chunks of whole sentences of ``min_tokens``..``max_tokens`` tokens.

    Sentences are packed greedily up to ``max_tokens``; when the last chunk comes out
    shorter than ``min_tokens``, sentences move into it from the one before as long as that
    one keeps ``min_tokens``. A chunk is shorter than ``min_tokens`` only when the passage
    is, or when the sentence after it would not fit (or is oversized). A sentence longer
    than ``max_tokens`` becomes a chunk of its own, flagged ``oversized``. ``tokenize``
    returns the tokens of a string (only their number is used): default ``simple_tokenize``;
    the job may pass a model tokenizer. A blank passage has no chunk.
    """
    if not 0 < min_tokens <= max_tokens:
        raise ValueError(f"need 0 < min_tokens <= max_tokens, got {min_tokens}, {max_tokens}")
    tokenize = tokenize or simple_tokenize
    sentences = split_sentences(text)
    counts = [len(tokenize(text[s:e])) for s, e in sentences]

    groups: list[list[int]] = []  # sentence indices of each chunk
    oversized: set[int] = set()  # indices into groups
    current: list[int] = []
    current_n = 0
    for i, n in enumerate(counts):
        if n > max_tokens:
            if current:
                groups.append(current)
            oversized.add(len(groups))
            groups.append([i])
            current, current_n = [], 0
            continue
        if current and current_n + n > max_tokens:
            groups.append(current)
            current, current_n = [], 0
        current.append(i)
        current_n += n
    if current:
        groups.append(current)

    if len(groups) >= 2 and not oversized & {len(groups) - 1, len(groups) - 2}:
        _rebalance_tail(groups[-2], groups[-1], counts, min_tokens, max_tokens)

    chunks = []
    for k, group in enumerate(groups):
        start, end = sentences[group[0]][0], sentences[group[-1]][1]
        chunks.append(Chunk(k, start, end, text[start:end], sum(counts[i] for i in group), k in oversized))
    return chunks


def _rebalance_tail(previous: list[int], last: list[int], counts: list[int], min_tokens: int,
                    max_tokens: int) -> None:
    prev_n, last_n = sum(counts[i] for i in previous), sum(counts[i] for i in last)
    while last_n < min_tokens and len(previous) > 1:
        moving = counts[previous[-1]]
        if prev_n - moving < min_tokens or last_n + moving > max_tokens:
            break
        last.insert(0, previous.pop())
        prev_n -= moving
        last_n += moving


# --------------------------------------------------------------------------- configuration

def _positive(v) -> bool:
    return v > 0


@lru_cache(maxsize=1)
def _packaged_defaults() -> dict:
    raw = (resources.files("nerlake.conf") / "annotation.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(raw)
    if not isinstance(data, dict) or not isinstance(data.get("prompt_template"), str):
        raise ConfigError("the packaged conf/annotation.yaml must be a mapping with a prompt_template")
    return data


def default_prompt_template() -> str:
    return _packaged_defaults()["prompt_template"]


@dataclass
class AnnotationConfig:
    base_url: str  # e.g. http://llm-gateway:8000/v1
    model: str
    api_key_env: str = "NERLAKE_LLM_API_KEY"
    prompt_template: str = field(default_factory=default_prompt_template)  # must contain {text}
    target_language: str = "vi"
    temperature: float = field(default=0.0, metadata={"check": lambda v: 0 <= v <= 2, "help": "0..2"})
    max_tokens: int = field(default=1024, metadata={"check": _positive, "help": "> 0"})
    timeout_s: float = field(default=120.0, metadata={"check": _positive, "help": "> 0"})
    max_concurrency: int = field(default=4, metadata={"check": lambda v: 1 <= v <= 256, "help": "1..256"})
    max_retries: int = field(default=5, metadata={"check": lambda v: 0 <= v <= 20, "help": "0..20"})
    backoff_base_s: float = field(default=1.0, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    backoff_max_s: float = field(default=60.0, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    chunk_min_tokens: int = field(default=150, metadata={"check": _positive, "help": "> 0"})
    chunk_max_tokens: int = field(default=256, metadata={"check": _positive, "help": "> 0"})

    def __post_init__(self):
        if not re.match(r"https?://", self.base_url or ""):
            raise ConfigError(f"base_url: {self.base_url!r} is not an http(s) URL")
        if not self.model:
            raise ConfigError("model: must not be empty")
        if "{text}" not in self.prompt_template:
            raise ConfigError("prompt_template: must contain {text}, where the passage goes")
        if self.chunk_min_tokens > self.chunk_max_tokens:
            raise ConfigError(f"chunk_min_tokens: {self.chunk_min_tokens} is more than "
                              f"chunk_max_tokens {self.chunk_max_tokens}")

    @property
    def prompt_version(self) -> str:
        return hashlib.sha256(self.prompt_template.encode("utf-8")).hexdigest()[:16]

    def render_prompt(self, text: str) -> str:
        language = LANGUAGE_NAMES.get(self.target_language, self.target_language)
        # {language} first: a passage that happens to contain "{language}" stays as written.
        return self.prompt_template.replace("{language}", language).replace("{text}", text)


def load_annotation_config(overrides: dict | None = None, path: str | Path | None = None) -> AnnotationConfig:
    """The annotation settings: ``path`` (None: the packaged ``conf/annotation.yaml``)
    overlaid key by key with ``overrides``, validated (errors name the key)."""
    if path is None:
        data = dict(_packaged_defaults())
    else:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"annotation: cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"annotation: {path} must be a mapping of settings")
    data.update(overrides or {})
    return from_dict(AnnotationConfig, data, prefix="annotation")


def passage_hash(cfg: AnnotationConfig, text: str) -> str:
    """Identity of one request: the same model, prompt and text give the same answer at
    temperature 0, so a response stored under this hash need not be asked for again."""
    key = "\x1f".join((cfg.model, cfg.prompt_template, cfg.target_language, text))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- HTTP client

@dataclass(frozen=True)
class CallResult:
    content: str | None  # the assistant message; None when the call failed
    status: int | None  # HTTP status of the last attempt; None when no response came
    attempts: int
    latency_s: float  # wall time of all attempts and the waits between them
    error: str | None


@dataclass(frozen=True)
class _Attempt:
    status: int | None
    content: str | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None


_RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
_ERROR_BODY_CHARS = 300


def backoff_delay(attempt: int, base_s: float, max_s: float, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Exponential with "equal jitter": half of ``base * 2**(attempt-1)`` plus a random share of
    the other half, so the wait grows but concurrent clients do not retry in step. A server's
    ``Retry-After`` is a lower bound. Nothing waits longer than ``max_s``: a server asking for
    more gets retried after ``max_s`` (and may answer 429 again, which costs an attempt).
    """
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    delay = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, max_s)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class LlmClient:
    """OpenAI-compatible chat completions over ``urllib``; thread-safe (one instance per executor)."""

    def __init__(self, cfg: AnnotationConfig, rng: random.Random | None = None):
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        api_key = os.environ.get(cfg.api_key_env)
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._rng = rng or random.Random()

    def complete(self, prompt: str) -> CallResult:
        """One user message in, the assistant's answer out. Never raises for network or HTTP
        trouble: after the last retry the result carries ``error``."""
        return self.chat([{"role": "user", "content": prompt}])

    def chat(self, messages: list[dict]) -> CallResult:
        cfg = self.cfg
        body = json.dumps({"model": cfg.model, "messages": messages, "temperature": cfg.temperature,
                           "max_tokens": cfg.max_tokens}, ensure_ascii=False).encode("utf-8")
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            outcome = self._attempt(body)
            if outcome.error is None or not outcome.retryable or attempts > cfg.max_retries:
                error = outcome.error
                if error is not None and outcome.retryable:
                    error = f"{error} (gave up after {attempts} attempts)"
                return CallResult(outcome.content, outcome.status, attempts, time.monotonic() - started, error)
            time.sleep(backoff_delay(attempts, cfg.backoff_base_s, cfg.backoff_max_s, outcome.retry_after, self._rng))

    def _attempt(self, body: bytes) -> _Attempt:
        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            detail = _read_error_body(exc)
            return _Attempt(exc.code, error=f"HTTP {exc.code}: {detail}", retryable=exc.code in _RETRY_STATUSES,
                            retry_after=parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None))
        except TimeoutError:
            return _Attempt(None, error=f"timeout after {self.cfg.timeout_s}s", retryable=True)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return _Attempt(None, error=f"timeout after {self.cfg.timeout_s}s", retryable=True)
            return _Attempt(None, error=f"connection error: {exc.reason}", retryable=True)
        except (OSError, http.client.HTTPException) as exc:  # resets, broken pipes, bad status lines
            return _Attempt(None, error=f"connection error: {type(exc).__name__}: {exc}", retryable=True)
        return _parse_completion(status, raw)


def _read_error_body(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        text = ""
    return " ".join(text.split())[:_ERROR_BODY_CHARS] or exc.reason or "no body"


def _parse_completion(status: int, raw: bytes) -> _Attempt:
    """The assistant message of an OpenAI-shaped body; a body of another shape is an error
    that retrying would not fix."""
    preview = raw[:_ERROR_BODY_CHARS].decode("utf-8", "replace")
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return _Attempt(status, error=f"response is not a chat completion: {preview!r}")
    if not isinstance(content, str):
        return _Attempt(status, error=f"response has no text content: {preview!r}")
    return _Attempt(status, content=content)


# --------------------------------------------------------------------------- annotation

@dataclass
class Response:
    """One chunk's request and answer: a row of the responses table."""

    passage_id: str | None
    passage_hash: str  # see passage_hash(); "" when the item was unusable
    chunk_index: int
    chunk_start: int  # offsets of the chunk in the passage
    chunk_end: int
    chunk_text: str  # the text that was annotated; the filters check entities against it
    oversized: bool  # the chunk is one sentence longer than chunk_max_tokens
    model: str
    prompt_version: str
    response_text: str | None  # the assistant message, as the model wrote it
    http_status: int | None
    attempts: int  # HTTP attempts made; 0 when no request was sent
    latency_s: float
    error: str | None  # None on success
    created_at: datetime

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Request:
    passage_id: str
    chunk: Chunk
    passage_hash: str


def annotate_passages(items: Iterable[tuple[str, str]], cfg: AnnotationConfig, cache=None, *,
                      client: LlmClient | None = None, tokenize: Tokenize | None = None,
                      stats: Counter | None = None) -> Iterator[Response]:
    """Annotate ``(passage_id, text)`` items, ``cfg.max_concurrency`` requests at a time.

    Yields one :class:`Response` per chunk sent, in completion order, plus one error record
    per unusable item (not a pair, id missing, text not a string or blank). Chunks whose
    hash is in ``cache`` (any container of hashes), or that repeat a chunk already sent in
    this run, are skipped and counted in ``stats``. Items are read lazily: at most
    ``2 * max_concurrency`` requests wait in memory.
    """
    stats = stats if stats is not None else Counter()
    client = client or LlmClient(cfg)
    cache = cache if cache is not None else frozenset()
    sent: set[str] = set()
    window = 2 * cfg.max_concurrency
    pool = ThreadPoolExecutor(max_workers=cfg.max_concurrency, thread_name_prefix="llm")
    pending: set = set()
    try:
        for work in _requests(items, cfg, cache, sent, tokenize, stats):
            if isinstance(work, Response):
                yield work
                continue
            pending.add(pool.submit(_annotate_chunk, client, cfg, work))
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from _finished(done, stats)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from _finished(done, stats)
    finally:
        # A consumer that stops early must not leave queued requests running.
        pool.shutdown(wait=True, cancel_futures=True)


def _finished(done, stats: Counter) -> Iterator[Response]:
    for future in done:
        response = future.result()  # _annotate_chunk never raises
        stats["http_attempts"] += response.attempts
        stats["responses_failed" if response.error else "responses_ok"] += 1
        yield response


def _requests(items, cfg: AnnotationConfig, cache, sent: set, tokenize, stats: Counter):
    for item in items:
        stats["passages_in"] += 1
        problem, passage_id, text = _check_item(item)
        if problem:
            stats["invalid_items"] += 1
            yield _error_record(cfg, passage_id, problem)
            continue
        try:
            chunks = chunk_passages(text, tokenize, cfg.chunk_min_tokens, cfg.chunk_max_tokens)
        except Exception as exc:  # a caller's tokenizer failing on one passage must not stop the partition
            stats["invalid_items"] += 1
            yield _error_record(cfg, passage_id, f"cannot chunk passage: {type(exc).__name__}: {exc}")
            continue
        for chunk in chunks:
            stats["chunks"] += 1
            if chunk.oversized:
                stats["oversized_chunks"] += 1
            digest = passage_hash(cfg, chunk.text)
            if digest in cache:
                stats["skipped_cached"] += 1
            elif digest in sent:
                stats["skipped_repeated"] += 1
            else:
                sent.add(digest)
                yield _Request(passage_id, chunk, digest)


def _check_item(item) -> tuple[str | None, str | None, str | None]:
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return f"expected a (passage_id, text) pair, got {type(item).__name__}", None, None
    passage_id, text = item
    if passage_id is None or (isinstance(passage_id, str) and not passage_id.strip()):
        return "passage_id is missing", None, None
    passage_id = str(passage_id)
    if not isinstance(text, str):
        return f"text is {type(text).__name__}, not a string", passage_id, None
    if not text.strip():
        return "text is blank", passage_id, None
    return None, passage_id, text


def _error_record(cfg: AnnotationConfig, passage_id: str | None, error: str) -> Response:
    return Response(passage_id, "", 0, 0, 0, "", False, cfg.model, cfg.prompt_version, None, None, 0, 0.0,
                    error, datetime.now(timezone.utc))


def _annotate_chunk(client: LlmClient, cfg: AnnotationConfig, req: _Request) -> Response:
    chunk = req.chunk
    try:
        result = client.complete(cfg.render_prompt(chunk.text))
    except Exception as exc:  # a bug here must become a record, not kill the partition
        result = CallResult(None, None, 0, 0.0, f"internal error: {type(exc).__name__}: {exc}")
    return Response(req.passage_id, req.passage_hash, chunk.index, chunk.start, chunk.end, chunk.text,
                    chunk.oversized, cfg.model, cfg.prompt_version, result.content, result.status,
                    result.attempts, round(result.latency_s, 4), result.error, datetime.now(timezone.utc))
