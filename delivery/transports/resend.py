"""Resend through the official SDK, with pooled connections and permissive batch validation.

The SDK's default HTTP client calls `requests.request`, which opens a new TCP (and TLS) connection per call.
`PooledRequestsClient` keeps one `requests.Session` per process and thread, so a worker reuses its connections.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any, cast

import requests
import resend
from django.conf import settings
from requests.adapters import HTTPAdapter
from resend.exceptions import RateLimitError, ResendError
from resend.http_client import HTTPClient

from delivery.transports import OutgoingEmail, PermanentError, SendResult, TransientError


class PooledRequestsClient(HTTPClient):
    def __init__(self, timeout: float = 30.0) -> None:
        self._timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        # A session must not cross a fork (prefork children inherit the parent's sockets), hence the pid check.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None or getattr(self._local, "pid", None) != os.getpid():
            session = requests.Session()
            # A Session that trusts the environment reads the proxy variables and ~/.netrc again on every request
            # (a millisecond of CPU per page). Read once here instead: proxies and CA bundle from the environment
            # as requests would; no netrc (the API key travels in the Authorization header).
            session.trust_env = False
            session.proxies = requests.utils.get_environ_proxies(resend.api_url or "https://api.resend.com")
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            self._local.pid = os.getpid()
        return session

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        json: dict[str, object] | list[object] | None = None,
        files: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            resp = self._session().request(
                method=method,
                url=url,
                headers=dict(headers),
                json=cast(Any, json) if data is None and files is None else None,
                data=data,
                files=files,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            # The SDK turns this into a ResendError(code=500, type HttpClientError): a retryable failure.
            raise RuntimeError(f"Request failed: {exc}") from exc
        return resp.content, resp.status_code, resp.headers


_configured: tuple[str, str] | None = None


def configure_sdk() -> None:
    """Point the SDK at settings once per process (tests and the bench swap RESEND_API_URL at will)."""
    global _configured
    wanted = (settings.RESEND_API_KEY or "re_herald_unset", settings.RESEND_API_URL.rstrip("/"))
    if _configured != wanted or not isinstance(resend.default_http_client, PooledRequestsClient):
        resend.api_key, resend.api_url = wanted
        resend.default_http_client = PooledRequestsClient(timeout=settings.RESEND_TIMEOUT)
        _configured = wanted


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def _code(exc: ResendError) -> int:
    try:
        return int(exc.code)
    except (TypeError, ValueError):
        return 500


def _params(e: OutgoingEmail) -> dict[str, Any]:
    params: dict[str, Any] = {"from": e.from_email, "to": [e.to], "subject": e.subject, "headers": e.headers}
    if e.html:
        params["html"] = e.html
    if e.text:
        params["text"] = e.text
    return params


class ResendTransport:
    name = "resend"
    idempotent = True
    derives_text_part = True

    def send_batch(self, emails: list[OutgoingEmail], *, idempotency_key: str) -> list[SendResult]:
        configure_sdk()
        try:
            response: Any = resend.Batch.send(
                [_params(e) for e in emails],  # type: ignore[misc]
                options={"idempotency_key": idempotency_key, "batch_validation": "permissive"},
            )
        except RateLimitError as exc:
            raise TransientError(
                f"Resend 429: {exc.message}", retry_after=_retry_after(exc.headers), rate_limited=True
            ) from exc
        except ResendError as exc:
            code = _code(exc)
            if code >= 500 or code == 408 or (code == 409 and exc.error_type != "invalid_idempotent_request"):
                # 409 concurrent_idempotent_requests: a crashed attempt's twin is still being processed; replay soon.
                raise TransientError(f"Resend {code}: {exc.message}", retry_after=_retry_after(exc.headers)) from exc
            if code == 409:
                # The key was used with other content: a crashed attempt of this page was accepted, then a
                # recipient left before the retry. Sending again under a new key would duplicate the others.
                raise PermanentError(
                    "Resend already accepted this page with different content (Idempotency-Key conflict); "
                    "not sent again to avoid duplicates"
                ) from exc
            raise PermanentError(f"Resend {code} {exc.error_type}: {exc.message}") from exc
        return _results(response, len(emails))


def _results(response: Any, count: int) -> list[SendResult]:
    """Map a permissive batch response to one result per email: `data` lists the accepted ones in order,
    `errors` names the rejected ones by index."""
    data = list(response.get("data") or [])
    errors = {int(err["index"]): str(err.get("message", "rejected")) for err in response.get("errors") or []}
    accepted = iter(data)
    results: list[SendResult] = []
    for index in range(count):
        if index in errors:
            results.append(SendResult(error=errors[index][:500]))
            continue
        item = next(accepted, None)
        if item is None:
            results.append(SendResult(error="Resend returned no id for this email"))
        else:
            results.append(SendResult(provider_message_id=str(item.get("id", ""))))
    return results
