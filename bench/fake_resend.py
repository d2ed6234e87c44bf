"""A local server that speaks Resend's email API, for the end-to-end tests and the send benchmark.

It implements what the engine relies on: `POST /emails`, `POST /emails/batch` (strict and permissive validation),
the `Idempotency-Key` header (same key + same body replays the stored answer; same key + another body is 409
`invalid_idempotent_request`; a concurrent twin is 409 `concurrent_idempotent_requests`), a requests/s limit
answered with 429 + `retry-after`, injected latency and 5xx errors (before or AFTER accepting, the nasty case for
exactly-once), and a per-recipient ledger that counts duplicates and misses.

Control endpoints: `GET /__ledger`, `POST /__reset`, `POST /__config` (JSON of the knobs below), `GET /__messages`.

Run alone: `python -m bench.fake_resend --port 8025` (or `FakeResend().start()` in a thread from Python).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Knobs:
    latency_ms: float = 0.0  # added to every /emails call
    error_rate: float = 0.0  # share of calls answered 500 before anything is accepted
    error_after_accept_rate: float = 0.0  # share of calls accepted, then answered 500 (the client must replay)
    rate_limit: float = 0.0  # requests per second over all clients, 0 = unlimited
    storm_429_rate: float = 0.0  # share of calls answered 429 regardless of the rate
    retry_after: float = 1.0  # seconds in the retry-after header of a 429
    reject_substring: str = "invalid"  # recipients containing it fail validation (per-recipient, permissive)
    keep_messages: int = 2000  # how many accepted emails to keep for /__messages (0 = none)


class Ledger:
    """Everything the server saw, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.counts: Counter[str] = Counter()
        self.idempotency: dict[str, tuple[str, int, bytes]] = {}
        self.in_flight: set[str] = set()
        self.messages: deque[dict[str, Any]] = deque()
        self.missing_unsubscribe: list[str] = []
        self.stats: Counter[str] = Counter()
        self.first_request_at: float | None = None
        self.first_accepted_at: float | None = None
        self.last_accepted_at: float | None = None
        self.window: deque[float] = deque()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "counts": dict(self.counts),
                "stats": dict(self.stats),
                "first_request_at": self.first_request_at,
                "first_accepted_at": self.first_accepted_at,
                "last_accepted_at": self.last_accepted_at,
                "missing_unsubscribe": list(self.missing_unsubscribe[:100]),
            }


def _check_email(item: dict[str, Any]) -> bool:
    """Does this email carry a working-looking unsubscribe link and the RFC 8058 headers?"""
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    unsub = headers.get("list-unsubscribe", "").strip("<>")
    body = f"{item.get('html') or ''}\n{item.get('text') or ''}"
    return bool(
        unsub
        and "/u/" in unsub
        and headers.get("list-unsubscribe-post") == "List-Unsubscribe=One-Click"
        and unsub in body.replace("&amp;", "&")
    )


def _validate(item: Any, reject: str) -> str | None:
    if not isinstance(item, dict):
        return "Each email must be an object."
    for field in ("from", "to", "subject"):
        if not item.get(field):
            return f"The `{field}` field is missing."
    if not (item.get("html") or item.get("text")):
        return "Either `html` or `text` is required."
    to = item["to"] if isinstance(item["to"], list) else [item["to"]]
    if reject and any(reject in str(addr) for addr in to):
        return f"Invalid `to` field: {to[0]}"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the SIGKILL tests do it on purpose) is not the server's error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeResend:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, knobs: Knobs | None = None) -> None:
        self.knobs = knobs or Knobs()
        self.ledger = Ledger()
        self.server = _Server((host, port), self._handler())
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeResend:
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-resend", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def configure(self, **changes: Any) -> None:
        for name, value in changes.items():
            if not hasattr(self.knobs, name):
                raise ValueError(f"unknown knob {name}")
            setattr(self.knobs, name, type(getattr(self.knobs, name))(value))

    # -- request handling ----------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection reuse is real
            # TCP_NODELAY: headers and body go out in two sends; with Nagle's algorithm the body of a kept-alive
            # response waited ~40 ms for the client's delayed ACK (Resend's servers hold nothing back).
            # FAKE_RESEND_NAGLE=1 restores the stall (bench/send.py --fake-nagle).
            disable_nagle_algorithm = os.environ.get("FAKE_RESEND_NAGLE") != "1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with fake.ledger.lock:
                    fake.ledger.stats["connections"] += 1  # one per TCP connection: shows client-side reuse

            def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                if parsed.path == "/__ledger":
                    self._reply(200, fake.ledger.snapshot())
                elif parsed.path == "/__messages":
                    to = parse_qs(parsed.query).get("to", [""])[0]
                    with fake.ledger.lock:
                        items = [m for m in fake.ledger.messages if not to or to in m.get("to", [])]
                    self._reply(200, {"data": items})
                elif parsed.path == "/__config":
                    self._reply(200, asdict(fake.knobs))
                else:
                    self._reply(404, {"statusCode": 404, "name": "not_found", "message": "Not found"})

            def do_POST(self) -> None:
                raw = self._body()
                path = urlparse(self.path).path
                if path == "/__reset":
                    with fake.ledger.lock:
                        fake.ledger.reset()
                    self._reply(200, {"ok": True})
                elif path == "/__config":
                    try:
                        fake.configure(**json.loads(raw or b"{}"))
                    except (ValueError, TypeError) as exc:
                        self._reply(400, {"error": str(exc)})
                        return
                    self._reply(200, asdict(fake.knobs))
                elif path in ("/emails", "/emails/batch"):
                    status, payload, headers = fake.handle_send(
                        batch=path.endswith("/batch"), raw=raw, headers=dict(self.headers.items())
                    )
                    self._reply(status, payload, headers)
                else:
                    self._reply(404, {"statusCode": 404, "name": "not_found", "message": "Not found"})

        return Handler

    def _error(self, status: int, name: str, message: str) -> dict[str, Any]:
        return {"statusCode": status, "name": name, "message": message}

    def handle_send(self, *, batch: bool, raw: bytes, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        knobs, ledger = self.knobs, self.ledger
        lower = {k.lower(): v for k, v in headers.items()}
        now = time.time()
        with ledger.lock:
            ledger.stats["requests"] += 1
            if ledger.first_request_at is None:
                ledger.first_request_at = now
        if not lower.get("authorization", "").startswith("Bearer re_"):
            return 401, self._error(401, "validation_error", "API key is invalid"), {}
        # The rate limit counts every request, as Resend's does.
        with ledger.lock:
            if knobs.rate_limit > 0:
                while ledger.window and ledger.window[0] <= now - 1.0:
                    ledger.window.popleft()
                if len(ledger.window) >= knobs.rate_limit:
                    ledger.stats["429"] += 1
                    retry = max(0.05, ledger.window[0] + 1.0 - now)
                    return (
                        429,
                        self._error(429, "rate_limit_exceeded", "Too many requests"),
                        {"retry-after": f"{retry:.2f}"},
                    )
                ledger.window.append(now)
            if knobs.storm_429_rate and random.random() < knobs.storm_429_rate:
                ledger.stats["429"] += 1
                return (
                    429,
                    self._error(429, "rate_limit_exceeded", "Too many requests"),
                    {"retry-after": f"{knobs.retry_after:g}"},
                )
        if knobs.latency_ms:
            time.sleep(knobs.latency_ms / 1000)
        if knobs.error_rate and random.random() < knobs.error_rate:
            with ledger.lock:
                ledger.stats["5xx"] += 1
            return 500, self._error(500, "internal_server_error", "Injected failure"), {}
        key = lower.get("idempotency-key", "")
        digest = hashlib.sha256(raw).hexdigest()
        if key:
            with ledger.lock:
                stored = ledger.idempotency.get(key)
                if stored is not None:
                    if stored[0] != digest:
                        ledger.stats["409"] += 1
                        return (
                            409,
                            self._error(
                                409, "invalid_idempotent_request", "Same idempotency key used with a different payload."
                            ),
                            {},
                        )
                    ledger.stats["replays"] += 1
                    return stored[1], stored[2], {}
                if key in ledger.in_flight:
                    ledger.stats["409"] += 1
                    return (
                        409,
                        self._error(409, "concurrent_idempotent_requests", "Same idempotency key is being processed."),
                        {},
                    )
                ledger.in_flight.add(key)
        try:
            status, payload = self._accept(
                batch=batch, raw=raw, permissive=lower.get("x-batch-validation") == "permissive"
            )
            body = json.dumps(payload).encode()
            with ledger.lock:
                if key and status == 200:
                    ledger.idempotency[key] = (digest, status, body)
            if status == 200 and knobs.error_after_accept_rate and random.random() < knobs.error_after_accept_rate:
                with ledger.lock:
                    ledger.stats["5xx_after_accept"] += 1
                return 502, self._error(502, "bad_gateway", "Injected failure after accepting"), {}
            return status, body, {}
        finally:
            if key:
                with ledger.lock:
                    ledger.in_flight.discard(key)

    def _accept(self, *, batch: bool, raw: bytes, permissive: bool) -> tuple[int, dict[str, Any]]:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return 422, self._error(422, "validation_error", "Invalid JSON")
        items = parsed if batch else [parsed]
        if batch and (not isinstance(items, list) or not 1 <= len(items) <= 100):
            return 422, self._error(422, "validation_error", "A batch holds 1 to 100 emails.")
        errors = [(i, err) for i, item in enumerate(items) if (err := _validate(item, self.knobs.reject_substring))]
        if errors and (not batch or not permissive):
            return 422, self._error(422, "validation_error", errors[0][1])
        bad = {i for i, _ in errors}
        data = []
        now = time.time()
        with self.ledger.lock:
            for i, item in enumerate(items):
                if i in bad:
                    continue
                message_id = str(uuid.uuid4())
                data.append({"id": message_id})
                recipients = item["to"] if isinstance(item["to"], list) else [item["to"]]
                ok = _check_email(item)
                for addr in recipients:
                    self.ledger.counts[str(addr).lower()] += 1
                    if not ok:
                        self.ledger.missing_unsubscribe.append(str(addr))
                if self.knobs.keep_messages:
                    self.ledger.messages.append({"id": message_id, **item})
                    while len(self.ledger.messages) > self.knobs.keep_messages:
                        self.ledger.messages.popleft()
            self.ledger.stats["accepted"] += len(data)
            self.ledger.stats["calls_accepted"] += 1
            self.ledger.stats["rejected"] += len(bad)
            self.ledger.last_accepted_at = now
            if self.ledger.first_accepted_at is None:
                self.ledger.first_accepted_at = now
        if not batch:
            return 200, data[0]
        payload: dict[str, Any] = {"data": data}
        if permissive:
            payload["errors"] = [{"index": i, "message": err} for i, err in errors]
        return 200, payload


def ledger_report(counts: dict[str, int], expected: list[str]) -> dict[str, int]:
    """Duplicates (extra copies) and misses of `expected` recipients, plus recipients nobody expected."""
    wanted = {e.lower() for e in expected}
    return {
        "received": sum(counts.values()),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "missing": sum(1 for e in wanted if counts.get(e, 0) == 0),
        "unexpected": sum(1 for e in counts if e not in wanted),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    for name, value in asdict(Knobs()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    knobs = Knobs(**{name: getattr(args, name) for name in asdict(Knobs())})
    fake = FakeResend(args.host, args.port, knobs)
    print(f"fake Resend on {fake.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fake.server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
