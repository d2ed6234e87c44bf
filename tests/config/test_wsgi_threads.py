"""config/wsgi_threads.py: Django's WSGI application behind gunicorn's `asgi` worker, on a fixed pool of threads
(the model of gunicorn's `gthread` worker, which the README ran before)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from config.wsgi_threads import WSGIOnThreads


def _run_loop(coroutine: Any) -> None:
    """On a thread of its own: the browser tests' Playwright keeps an event loop running on the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _serve(
    app: Any,
    *,
    method: str = "GET",
    path: str = "/",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    body_parts: list[bytes] | None = None,
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    parts = list(body_parts or [b""])
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "query_string": query,
        "root_path": "",
        "headers": headers or [],
        "client": ("203.0.113.9", 51000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        chunk = parts.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    _run_loop(WSGIOnThreads(app, threads=2)(scope, receive, send))
    return sent


def test_the_environ_carries_the_request_as_pep_3333_says() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ, body=environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    _serve(
        app,
        method="POST",
        path="/contacts/import/",
        query=b"page=2",
        headers=[
            (b"content-type", b"text/csv"),
            (b"content-length", b"11"),
            (b"cookie", b"a=1"),
            (b"cookie", b"sessionid=xyz"),
            (b"x-forwarded-proto", b"https"),
        ],
        body_parts=[b"email\n", b"a@b.c"],
    )

    assert (seen["REQUEST_METHOD"], seen["PATH_INFO"], seen["QUERY_STRING"]) == ("POST", "/contacts/import/", "page=2")
    assert (seen["CONTENT_TYPE"], seen["CONTENT_LENGTH"], seen["body"]) == ("text/csv", "11", b"email\na@b.c")
    assert seen["HTTP_COOKIE"] == "a=1; sessionid=xyz"
    assert (seen["HTTP_X_FORWARDED_PROTO"], seen["REMOTE_ADDR"], seen["SERVER_PORT"]) == (
        "https",
        "203.0.113.9",
        "8000",
    )


def test_the_response_is_streamed_chunk_by_chunk_and_closed_afterwards() -> None:
    closed = threading.Event()

    class Streamed:
        def __iter__(self) -> Iterator[bytes]:
            yield b"email\n"
            yield b""
            yield b"a@example.com\n"

        def close(self) -> None:  # Django's request_finished (old database connections closed) hangs on this
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Streamed:
        start_response("200 OK", [("Content-Type", "text/csv"), ("X-Herald", "1")])
        return Streamed()

    sent = _serve(app)

    assert sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/csv"), (b"x-herald", b"1")],
    }
    assert [m["body"] for m in sent[1:]] == [b"email\n", b"a@example.com\n", b""]
    assert sent[-1]["more_body"] is False
    assert closed.is_set()


def test_a_head_request_sends_the_headers_without_the_body() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        return [b"hello"]

    sent = _serve(app, method="HEAD")

    assert sent[0]["status"] == 200
    assert [m["body"] for m in sent[1:]] == [b""]


def test_requests_run_on_the_pool_threads_not_the_event_loop() -> None:
    names: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        names.append(threading.current_thread().name)
        start_response("204 No Content", [])
        return []

    sent = _serve(app)

    assert names[0].startswith("wsgi") and names[0] != threading.main_thread().name
    assert sent[0]["status"] == 204


def test_the_lifespan_protocol_is_answered() -> None:
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    _run_loop(WSGIOnThreads(lambda e, s: [], threads=1)({"type": "lifespan"}, receive, send))

    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_an_application_that_never_starts_its_response_is_an_error_not_a_silent_hang() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return []

    with pytest.raises(RuntimeError, match="start_response"):
        _serve(app)
