"""LLM annotation client (udfs/llm_annotate.py): chunking, config, HTTP retries against a real
local server (tests/llm_server.py), caching and bounded concurrency."""
from __future__ import annotations

import hashlib
import random
import socket
import time
from collections import Counter
from datetime import timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_server import start_llm_server
from nerlake.udfs.config import ConfigError
from nerlake.udfs.examples import simple_tokenize
from nerlake.udfs.llm_annotate import (AnnotationConfig, LlmClient, annotate_passages, backoff_delay,
                                       chunk_passages, load_annotation_config, parse_retry_after, passage_hash,
                                       split_sentences)

WORDS = ["người", "dân", "Hà", "Nội", "đã", "nhận", "được", "thông", "báo", "từ", "Ủy", "ban", "về", "lịch",
         "cúp", "điện", "ngày", "mai", "tại", "quận", "Ba", "Đình", "và", "Hoàn", "Kiếm"]


@pytest.fixture
def server():
    servers = []

    def start(canned: dict):
        base_url, srv = start_llm_server(canned)
        servers.append(srv)
        return base_url, srv

    yield start
    for srv in servers:
        srv.stop()


def config(base_url: str, **kw) -> AnnotationConfig:
    defaults = {"model": "test-model", "backoff_base_s": 0.001, "backoff_max_s": 0.01, "timeout_s": 5.0}
    return AnnotationConfig(base_url=base_url, **{**defaults, **kw})


def sentence(n_words: int, rng: random.Random, end: str = ".") -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + end


# --------------------------------------------------------------------------- chunking

@pytest.mark.parametrize("text, expected", [
    ("Một câu. Hai câu!", ["Một câu.", "Hai câu!"]),
    ("Thật sao?! Vâng… Được rồi", ["Thật sao?!", "Vâng…", "Được rồi"]),
    ("dòng một\ndòng hai\n\n  dòng ba  ", ["dòng một", "dòng hai", "dòng ba"]),
    ("Anh ấy nói: \"Xong rồi.\" Rồi đi.", ["Anh ấy nói: \"Xong rồi.\"", "Rồi đi."]),
    # dots inside numbers, codes and abbreviations do not end a sentence
    ("Giá 1.200.000 đồng, bản v1.2 ở TP. HCM do PGS. TS. Lê V. An duyệt. Hết.",
     ["Giá 1.200.000 đồng, bản v1.2 ở TP. HCM do PGS. TS. Lê V. An duyệt.", "Hết."]),
    ("   ", []),
])
def test_split_sentences(text, expected):
    assert [text[s:e] for s, e in split_sentences(text)] == expected


def test_short_passage_is_one_chunk():
    text = "  Ông An đến Hà Nội. Bà Bình ở lại Huế.\n"
    chunks = chunk_passages(text)
    assert len(chunks) == 1
    assert chunks[0].text == text.strip() and text[chunks[0].start:chunks[0].end] == chunks[0].text
    assert chunks[0].n_tokens == len(simple_tokenize(text)) and not chunks[0].oversized


def test_blank_passage_has_no_chunk():
    assert chunk_passages(" \n ") == []


def test_long_sentence_is_its_own_flagged_chunk():
    rng = random.Random(1)
    text = " ".join([sentence(100, rng), sentence(300, rng), sentence(100, rng)])
    chunks = chunk_passages(text)
    assert [c.oversized for c in chunks] == [False, True, False]
    assert [c.n_tokens for c in chunks] == [101, 301, 101]


def test_tail_chunk_is_rebalanced_to_min_tokens():
    rng = random.Random(2)
    # 9 sentences of 50 tokens: greedy packing gives 250 + 200, no rebalance needed; with 6
    # sentences greedy gives 250 + 50 and the tail takes sentences until it has 150.
    text = " ".join(sentence(49, rng) for _ in range(6))
    assert [c.n_tokens for c in chunk_passages(text)] == [150, 150]


def test_pluggable_tokenizer_counts_characters():
    text = "Ông An. Bà Bình. Cô Chi."
    chunks = chunk_passages(text, tokenize=lambda s: s.replace(" ", ""), min_tokens=5, max_tokens=13)
    assert [c.text for c in chunks] == ["Ông An. Bà Bình.", "Cô Chi."]


def test_bad_limits_are_rejected():
    with pytest.raises(ValueError, match="min_tokens"):
        chunk_passages("Câu.", min_tokens=300, max_tokens=256)


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(min_value=1, max_value=320), min_size=1, max_size=25),
       seps=st.lists(st.sampled_from([" ", "\n", "  \n ", "\n\n"]), min_size=25, max_size=25),
       ends=st.lists(st.sampled_from([".", "!", "?", "…", "...", "?!"]), min_size=25, max_size=25))
def test_chunking_properties(lengths, seps, ends):
    rng = random.Random(len(lengths))
    parts = [sentence(n, rng, ends[i]) for i, n in enumerate(lengths)]
    text = "".join(p + seps[i] for i, p in enumerate(parts))
    sentences = split_sentences(text)
    assert [text[s:e] for s, e in sentences] == parts
    counts = {s: len(simple_tokenize(text[s:e])) for s, e in sentences}
    chunks = chunk_passages(text)

    # every sentence in exactly one chunk, in order; chunks start and end on sentence edges
    starts, ends_ = [s for s, _ in sentences], [e for _, e in sentences]
    covered = []
    for k, chunk in enumerate(chunks):
        assert chunk.index == k and chunk.text == text[chunk.start:chunk.end]
        assert chunk.start in starts and chunk.end in ends_
        inside = [(s, e) for s, e in sentences if chunk.start <= s and e <= chunk.end]
        assert chunk.n_tokens == sum(counts[s] for s, _ in inside)
        covered += inside
        if chunk.oversized:
            assert len(inside) == 1 and chunk.n_tokens > 256
        else:
            assert chunk.n_tokens <= 256
    assert covered == sentences

    # a chunk under min_tokens is the last one, or the next sentence did not fit
    for k, chunk in enumerate(chunks[:-1]):
        if chunk.n_tokens < 150 and not chunk.oversized:
            following = chunks[k + 1]
            first_next = next(counts[s] for s, _ in sentences if s == following.start)
            assert following.oversized or chunk.n_tokens + first_next > 256


# --------------------------------------------------------------------------- config

def test_packaged_defaults_match_the_dataclass():
    loaded = load_annotation_config({"base_url": "http://llm:8000/v1", "model": "m"})
    assert loaded == AnnotationConfig(base_url="http://llm:8000/v1", model="m")
    assert "{text}" in loaded.prompt_template and "JSON" in loaded.prompt_template
    assert loaded.max_retries == 5 and loaded.max_concurrency == 4 and loaded.temperature == 0.0


@pytest.mark.parametrize("overrides, message", [
    ({}, "missing key annotation.base_url"),
    ({"base_url": "llm:8000", "model": "m"}, "base_url"),
    ({"base_url": "http://x/v1", "model": "m", "max_concurrency": 0}, "max_concurrency"),
    ({"base_url": "http://x/v1", "model": "m", "retries": 3}, "unknown key annotation.retries"),
    ({"base_url": "http://x/v1", "model": "m", "prompt_template": "no placeholder"}, "prompt_template"),
    ({"base_url": "http://x/v1", "model": "m", "chunk_min_tokens": 300}, "chunk_min_tokens"),
    ({"base_url": "http://x/v1", "model": "m", "timeout_s": "fast"}, "timeout_s"),
])
def test_bad_config_names_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_annotation_config(overrides)


def test_prompt_rendering_and_hashes():
    cfg = AnnotationConfig(base_url="http://x/v1", model="m", prompt_template="Types in {language}: {text}")
    assert cfg.render_prompt("Hà Nội {language}") == "Types in Vietnamese: Hà Nội {language}"
    assert cfg.prompt_version == hashlib.sha256(b"Types in {language}: {text}").hexdigest()[:16]
    other_model = AnnotationConfig(base_url="http://x/v1", model="m2", prompt_template=cfg.prompt_template)
    other_prompt = AnnotationConfig(base_url="http://x/v1", model="m", prompt_template="{text}")
    hashes = {passage_hash(c, "Hà Nội") for c in (cfg, other_model, other_prompt)}
    assert len(hashes) == 3 and passage_hash(cfg, "Hà Nội") == passage_hash(cfg, "Hà Nội")


# --------------------------------------------------------------------------- backoff

@pytest.mark.parametrize("attempt", [1, 2, 3, 6])
def test_backoff_grows_with_jitter_and_is_capped(attempt):
    rng = random.Random(attempt)
    ceiling = min(10.0, 0.5 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, 0.5, 10.0, rng=rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 100  # jittered, not one fixed value


def test_retry_after_is_a_lower_bound_up_to_the_cap():
    assert backoff_delay(1, 0.001, 10.0, retry_after=3.0) == 3.0
    assert backoff_delay(1, 0.001, 10.0, retry_after=300.0) == 10.0


@pytest.mark.parametrize("header, expected", [("3", 3.0), ("0", 0.0), ("1.5", 1.5), (None, None), ("soon", None)])
def test_parse_retry_after_seconds(header, expected):
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date():
    from email.utils import formatdate
    assert 8 <= parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert parse_retry_after(formatdate(time.time() - 100, usegmt=True)) == 0.0


# --------------------------------------------------------------------------- client over HTTP

def test_client_sends_an_openai_request(server, monkeypatch):
    base_url, srv = server({"Hà Nội": {"content": '[{"entity": "Hà Nội", "type": "địa điểm"}]'}})
    monkeypatch.setenv("NERLAKE_LLM_API_KEY", "secret-key")
    result = LlmClient(config(base_url)).complete("Passage: Hà Nội")
    assert result.error is None and result.status == 200 and result.attempts == 1
    assert result.content == '[{"entity": "Hà Nội", "type": "địa điểm"}]'
    request = srv.requests[0]
    assert request["body"]["model"] == "test-model" and request["body"]["temperature"] == 0.0
    assert request["body"]["messages"] == [{"role": "user", "content": "Passage: Hà Nội"}]
    assert request["headers"]["Authorization"] == "Bearer secret-key"


def test_no_api_key_means_no_authorization_header(server, monkeypatch):
    base_url, srv = server({})
    monkeypatch.delenv("NERLAKE_LLM_API_KEY", raising=False)
    LlmClient(config(base_url)).complete("x")
    assert "Authorization" not in srv.requests[0]["headers"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_until_success(server, status):
    base_url, srv = server({"K": {"fail_first": 3, "fail_status": status, "content": "[]"}})
    result = LlmClient(config(base_url)).complete("K")
    assert (result.error, result.content, result.attempts, srv.calls["K"]) == (None, "[]", 4, 4)


def test_gives_up_after_the_last_retry(server):
    base_url, srv = server({"K": {"status": 500}})
    result = LlmClient(config(base_url, max_retries=2)).complete("K")
    assert result.attempts == 3 and srv.calls["K"] == 3 and result.status == 500
    assert result.content is None and "HTTP 500" in result.error and "gave up after 3 attempts" in result.error


def test_retry_after_is_respected(server):
    base_url, srv = server({"K": {"fail_first": 1, "fail_status": 429, "retry_after": "1"}})
    started = time.monotonic()
    result = LlmClient(config(base_url, backoff_max_s=5.0)).complete("K")
    assert result.error is None and result.attempts == 2
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_no_retry_on_client_errors(server, status):
    base_url, srv = server({"K": {"status": status}})
    result = LlmClient(config(base_url)).complete("K")
    assert result.attempts == 1 and srv.calls["K"] == 1
    assert result.status == status and result.error.startswith(f"HTTP {status}")


def test_timeout_is_retried_then_reported(server):
    base_url, srv = server({"SLOW": {"delay_s": 1.0}, "ONCE": {"delay_s": 1.0, "slow_first": 1, "content": "[]"}})
    client = LlmClient(config(base_url, timeout_s=0.2, max_retries=1))
    started = time.monotonic()
    failed = client.complete("SLOW")
    assert failed.attempts == 2 and failed.status is None and "timeout" in failed.error
    assert time.monotonic() - started < 1.0  # gave up on time, did not wait for the server
    recovered = client.complete("ONCE")
    assert (recovered.error, recovered.content, recovered.attempts) == (None, "[]", 2)


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    result = LlmClient(config(f"http://127.0.0.1:{port}/v1", max_retries=2)).complete("x")
    assert result.attempts == 3 and result.status is None and "connection error" in result.error


@pytest.mark.parametrize("body", ["not json", '{"choices": []}', '{"choices": [{"message": {"content": null}}]}'])
def test_a_body_of_another_shape_is_an_error_without_retry(server, body):
    base_url, srv = server({"K": {"raw_body": body}})
    result = LlmClient(config(base_url)).complete("K")
    assert result.attempts == 1 and result.status == 200 and result.content is None
    assert "response" in result.error


# --------------------------------------------------------------------------- annotate_passages

def passages(n: int) -> list[tuple[str, str]]:
    return [(f"id{i}", f"Khách hàng số {i} ở Hà Nội.") for i in range(n)]


def test_every_chunk_gives_a_complete_record(server):
    base_url, srv = server({"số 0 ": {"content": "[]"}})
    rng = random.Random(3)
    long_text = " ".join(sentence(60, rng) for _ in range(8))
    cfg = config(base_url)
    records = sorted(annotate_passages([("long", long_text)], cfg), key=lambda r: r.chunk_index)
    assert len(records) == len(chunk_passages(long_text)) > 1
    for r in records:
        assert r.chunk_text == long_text[r.chunk_start:r.chunk_end]
        assert r.passage_id == "long" and r.passage_hash == passage_hash(cfg, r.chunk_text)
        assert (r.model, r.prompt_version, r.http_status, r.attempts, r.error) == (
            "test-model", cfg.prompt_version, 200, 1, None)
        assert r.response_text == "[]" and r.latency_s >= 0 and r.created_at.tzinfo == timezone.utc
        assert set(r.to_dict()) >= {"passage_id", "passage_hash", "chunk_text", "model", "prompt_version",
                                    "response_text", "http_status", "attempts", "latency_s", "error", "created_at"}


def test_cache_makes_a_rerun_free(server):
    base_url, srv = server({})
    cfg = config(base_url)
    first = list(annotate_passages(passages(5), cfg))
    assert srv.total_calls == 5 and all(r.error is None for r in first)
    cache = {r.passage_hash for r in first if r.error is None}
    srv.reset_counts()
    stats = Counter()
    assert list(annotate_passages(passages(5), cfg, cache=cache, stats=stats)) == []
    assert srv.total_calls == 0 and stats["skipped_cached"] == 5
    # another model is another request: nothing is cached for it
    assert len(list(annotate_passages(passages(5), config(base_url, model="other"), cache=cache))) == 5


def test_failed_chunks_are_records_and_are_asked_again(server):
    base_url, srv = server({"số 1 ": {"status": 400}})
    cfg = config(base_url)
    first = {r.passage_id: r for r in annotate_passages(passages(3), cfg)}
    assert first["id1"].error.startswith("HTTP 400") and first["id1"].http_status == 400
    assert first["id1"].response_text is None and first["id1"].passage_hash
    cache = {r.passage_hash for r in first.values() if r.error is None}
    srv.reset_counts()
    again = list(annotate_passages(passages(3), cfg, cache=cache))
    assert [r.passage_id for r in again] == ["id1"] and srv.total_calls == 1


def test_a_repeated_chunk_is_sent_once(server):
    base_url, srv = server({})
    stats = Counter()
    records = list(annotate_passages([("a", "Xin chào."), ("b", "Xin chào."), ("c", "Tạm biệt.")],
                                     config(base_url), stats=stats))
    assert sorted(r.passage_id for r in records) == ["a", "c"]
    assert srv.total_calls == 2 and stats["skipped_repeated"] == 1


@pytest.mark.parametrize("item, message", [
    (("id", None), "text is NoneType"),
    (("id", 42), "text is int"),
    (("id", "  \n"), "text is blank"),
    ((None, "Hà Nội."), "passage_id is missing"),
    ("just text", "expected a (passage_id, text) pair"),
    (("a", "b", "c"), "expected a (passage_id, text) pair"),
])
def test_unusable_items_become_error_records(server, item, message):
    base_url, srv = server({})
    stats = Counter()
    records = list(annotate_passages([item, ("ok", "Hà Nội.")], config(base_url), stats=stats))
    errors = [r for r in records if r.error]
    assert len(records) == 2 and len(errors) == 1 and message in errors[0].error
    assert errors[0].attempts == 0 and srv.total_calls == 1 and stats["invalid_items"] == 1


def test_a_failing_tokenizer_becomes_an_error_record(server):
    base_url, srv = server({})

    def tokenize(text):
        if "hỏng" in text:
            raise RuntimeError("tokenizer broke")
        return text.split()

    records = list(annotate_passages([("a", "Câu hỏng."), ("b", "Câu tốt.")], config(base_url), tokenize=tokenize))
    by_id = {r.passage_id: r for r in records}
    assert "tokenizer broke" in by_id["a"].error and by_id["b"].error is None


def test_concurrency_is_bounded(server):
    base_url, srv = server({"Khách hàng": {"delay_s": 0.15, "content": "[]"}})
    started = time.monotonic()
    records = list(annotate_passages(passages(12), config(base_url, max_concurrency=3)))
    elapsed = time.monotonic() - started
    assert len(records) == 12 and all(r.error is None for r in records)
    assert 2 <= srv.max_in_flight <= 3
    assert elapsed < 12 * 0.15  # requests did overlap


def test_items_are_read_lazily(server):
    base_url, srv = server({})
    consumed = []

    def items():
        for i in range(1000):
            consumed.append(i)
            yield f"id{i}", f"Câu số {i}."

    stream = annotate_passages(items(), config(base_url, max_concurrency=2))
    next(stream)
    stream.close()
    assert len(consumed) <= 10  # a window of 2 * max_concurrency, not the whole input
