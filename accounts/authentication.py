"""API token authentication that throttles guessing: failed tokens are counted per client address."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from accounts.security import client_ip

_KEY = "herald:api-auth-failures:{ip}"


def _limit() -> int:
    return int(settings.API_AUTH_FAILURE_LIMIT)


def _window() -> int:
    return int(settings.API_AUTH_FAILURE_WINDOW_SECONDS)


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication, plus: after API_AUTH_FAILURE_LIMIT failed tokens from one address within
    API_AUTH_FAILURE_WINDOW_SECONDS (counted in the cache: LocMemCache embedded, Redis in production), every
    token request from that address gets 429 until the window ends, a valid token included (else the answer
    would still tell a guessed token from a wrong one). Requests without a token (the browser's session) are
    neither counted nor refused."""

    def authenticate(self, request: Request) -> Any:
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.keyword.lower().encode():
            return None
        key = _KEY.format(ip=client_ip(request) or "unknown")
        window = _window()
        if int(cache.get(key, 0)) >= _limit():
            raise Throttled(wait=window, detail="Too many failed API token attempts from this address.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            # The window starts with the first failure (add is a no-op when the key exists); incr is atomic.
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=window)
            raise
