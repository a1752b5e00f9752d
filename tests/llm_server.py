"""A real local OpenAI-compatible chat server for the annotation tests (no mocks: real HTTP).

``start_llm_server(canned)`` serves ``POST /v1/chat/completions`` on 127.0.0.1 (a free
port) from a background thread and returns ``(base_url, server)``; ``server.stop()`` ends it.

``canned`` maps a key to what the server does for a request whose prompt contains that key
(the longest matching key wins; a prompt with no key gets the content ``[]``):

- ``content``: the assistant message (default ``"[]"``), e.g. a JSON list of annotations or
  deliberately malformed text;
- ``status``: answer every call with this HTTP error status instead (e.g. 400);
- ``fail_first`` / ``fail_status`` / ``retry_after``: the first N calls get ``fail_status``
  (default 500), with a ``Retry-After`` header when ``retry_after`` is set;
- ``delay_s`` / ``slow_first``: sleep before answering, on the first ``slow_first`` calls
  (default: every call), to provoke client timeouts;
- ``raw_body``: answer 200 with this body instead of the chat-completion shape.

The server counts calls per key (``calls``), keeps every request body and its headers
(``requests``) and the highest number of requests it was serving at once (``max_in_flight``).
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNKNOWN = "<no key>"


class LlmTestServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping for a timeout test must not block stop()

    def __init__(self, canned: dict[str, dict]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.canned = canned
        self._keys = sorted(canned, key=len, reverse=True)
        self._lock = threading.Lock()
        self.calls: Counter = Counter()
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def start(self) -> "LlmTestServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()
            self.requests.clear()
            self.max_in_flight = 0

    def key_of(self, prompt: str) -> str:
        return next((k for k in self._keys if k in prompt), UNKNOWN)

    def enter(self, key: str, body: dict, headers: dict) -> int:
        """Record one call; returns its number for this key (1 for the first)."""
        with self._lock:
            self.calls[key] += 1
            self.requests.append({"key": key, "body": body, "headers": headers})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.calls[key]

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    server: LlmTestServer

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_POST(self):
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length))
            prompt = "\n".join(m["content"] for m in body["messages"])
        except (ValueError, KeyError, TypeError):
            return self._send(400, {"error": {"message": "body is not a chat request"}})
        key = self.server.key_of(prompt)
        n = self.server.enter(key, body, dict(self.headers))
        try:
            self._answer(self.server.canned.get(key, {}), n, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left
        finally:
            self.server.leave()

    def _answer(self, spec: dict, n: int, body: dict) -> None:
        if spec.get("delay_s") and n <= spec.get("slow_first", n):
            time.sleep(spec["delay_s"])
        if "status" in spec:
            return self._send(spec["status"], {"error": {"message": f"canned status {spec['status']}"}})
        if n <= spec.get("fail_first", 0):
            headers = {"Retry-After": str(spec["retry_after"])} if "retry_after" in spec else {}
            return self._send(spec.get("fail_status", 500), {"error": {"message": "canned failure"}}, headers)
        if "raw_body" in spec:
            return self._send_bytes(200, spec["raw_body"].encode("utf-8"), {})
        self._send(200, {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": spec.get("content", "[]")}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        })

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send_bytes(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers or {})

    def _send_bytes(self, status: int, data: bytes, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def start_llm_server(canned: dict[str, dict]) -> tuple[str, LlmTestServer]:
    server = LlmTestServer(canned).start()
    return server.base_url, server
