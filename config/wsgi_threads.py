"""Django's WSGI application served from an ASGI server, on a fixed pool of threads.

The README runs gunicorn's `asgi` worker (`config.asgi`): its event loop answers the open pixel and the click
redirect itself (`delivery.tracking_endpoint.TrackingFastPathASGI`, no thread hand-off per hit), and hands every
other request to this bridge, which runs Django exactly as gunicorn's `gthread` worker did: the same WSGI
application on `threads` threads, each with its own persistent database connection (`CONN_MAX_AGE`), the response
streamed back as Django produces it and closed afterwards (Django's `request_finished`: old connections are closed).

Why not Django's own ASGI handler: it runs each request's sync code on a new thread, which defeats persistent
connections (Django's docs ask for them to be off under ASGI, with a connection pool instead); every Herald view is
synchronous, so the bridge keeps the model the rest of the code was measured with (docs/benchmarks.md, "Tracking").
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from tempfile import SpooledTemporaryFile
from typing import IO, Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[..., Any]  # an async callable taking one message (ASGI)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BODY_IN_MEMORY = 64 * 1024  # larger request bodies (CSV uploads) go to a temporary file, as Django's own handler does


def wsgi_environ(scope: Scope, body: IO[bytes]) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP scope (PEP 3333; repeated headers joined with commas, cookies with `; `)."""
    root = str(scope.get("root_path", ""))
    path = str(scope["path"])
    if root and path.startswith(root):
        path = path[len(root) :]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root.encode().decode("latin1"),
        "PATH_INFO": path.encode().decode("latin1"),
        "QUERY_STRING": bytes(scope.get("query_string", b"")).decode("latin1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        key = name if name in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{name}"
        value = raw_value.decode("latin1")
        if key in environ:
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    return environ


class WSGIOnThreads:
    """An ASGI application that runs a WSGI application on a fixed pool of `threads` threads."""

    def __init__(self, app: WSGIApp, *, threads: int) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: Herald has none
            return
        body: IO[bytes] = SpooledTemporaryFile(max_size=BODY_IN_MEMORY)  # noqa: SIM115  (closed below)
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body.seek(0)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self.pool, self._run, scope, body, send, loop)
        finally:
            body.close()

    def _run(self, scope: Scope, body: IO[bytes], send: Send, loop: asyncio.AbstractEventLoop) -> None:
        """On a pool thread: call the application and send what it answers, chunk by chunk."""
        response = _Response(send, loop)
        result = self.app(wsgi_environ(scope, body), response.start_response)
        try:
            head = scope["method"] == "HEAD"
            for chunk in result:
                if chunk:
                    response.body(b"" if head else bytes(chunk), more=True)
            response.body(b"", more=False)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django's request_finished: old database connections closed, as under gthread


class _Response:
    """One response as the WSGI application gives it, sent to the ASGI server from the pool thread: the status and
    headers go with the first non-empty chunk (or the end), so an error before it can still replace them."""

    def __init__(self, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        self.send, self.loop = send, loop
        self.head: Message | None = None
        self.head_sent = False

    def _send(self, message: Message) -> None:
        asyncio.run_coroutine_threadsafe(self.send(message), self.loop).result()

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info and self.head_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.head = {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers],
        }
        return lambda data: None  # the legacy write() callable: Django never uses it

    def body(self, chunk: bytes, *, more: bool) -> None:
        if not self.head_sent:
            if self.head is None:
                raise RuntimeError("the WSGI application returned before calling start_response")
            self.head_sent = True
            self._send(self.head)
        if chunk or not more:
            self._send({"type": "http.response.body", "body": chunk, "more_body": more})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
