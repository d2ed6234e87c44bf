"""API authentication: DRF tokens and Herald's API keys, both throttling guesses (failed attempts are counted per
client address), and the request's actor for the audit log."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.authentication import BaseAuthentication, TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from accounts import roles, selectors, services
from accounts.security import client_ip

_KEY = "herald:api-auth-failures:{ip}"


def _limit() -> int:
    return int(settings.API_AUTH_FAILURE_LIMIT)


def _window() -> int:
    return int(settings.API_AUTH_FAILURE_WINDOW_SECONDS)


def throttled(request: Request, attempt: Callable[[], Any]) -> Any:
    """Run one credential check under the failure throttle: after API_AUTH_FAILURE_LIMIT failures from one address
    within API_AUTH_FAILURE_WINDOW_SECONDS (counted in the cache: LocMemCache embedded, Redis in production), every
    credential from that address gets 429 until the window ends, a valid one included (else the answer would still
    tell a guessed credential from a wrong one). Shared by every credential type, so they share one budget."""
    key = _KEY.format(ip=client_ip(request) or "unknown")
    window = _window()
    if int(cache.get(key, 0)) >= _limit():
        raise Throttled(wait=window, detail="Too many failed API token attempts from this address.")
    try:
        result = attempt()
    except AuthenticationFailed:
        # The window starts with the first failure (add is a no-op when the key exists); incr is atomic.
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
        raise
    if result is not None:
        set_audit_actor(result[0])
    return result


def set_audit_actor(user: Any) -> None:
    """DRF authenticates inside the view, after django-auditlog's middleware took the (anonymous) session user:
    name the key's or token's owner as the actor of this request's changes."""
    from auditlog.context import auditlog_value

    with contextlib.suppress(LookupError):  # outside a request (tests calling authenticate directly)
        auditlog_value.get()["actor"] = user


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (`Authorization: Token <key>`), under the failure throttle. Requests without a
    token (the browser's session) are neither counted nor refused."""

    def authenticate(self, request: Request) -> Any:
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.keyword.lower().encode():
            return None
        return throttled(request, lambda: super(ThrottledTokenAuthentication, self).authenticate(request))


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key hk_<prefix>.<secret>`: an active key of an active user. The request's user is capped
    at the key's scope (accounts.roles.cap_role), so every role check honours it. request.auth is the ApiKey."""

    keyword = "Api-Key"

    def authenticate(self, request: Request) -> Any:
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.keyword.lower().encode():
            return None
        return throttled(request, lambda: self._check(auth))

    def _check(self, auth: list[bytes]) -> tuple[Any, Any]:
        if len(auth) != 2:
            raise AuthenticationFailed("Invalid Api-Key header: give one key after the keyword.")
        try:
            raw = auth[1].decode()
        except UnicodeError as exc:
            raise AuthenticationFailed("Invalid API key.") from exc
        key = selectors.api_key_for_raw(raw=raw)
        if key is None or not key.owner.is_active:
            raise AuthenticationFailed("Invalid, expired or revoked API key.")
        user = key.owner
        roles.cap_role(user, key.scope)
        services.api_key_touch(key=key)
        return user, key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
