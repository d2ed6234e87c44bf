"""Who is knocking: the client address the login lockout (django-axes) and the API token throttle count by."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, or None when the request has none (Django's test client's force_login).

    Behind HERALD_TRUSTED_PROXIES reverse proxies, the X-Forwarded-For entry that many from the right (the one the
    outermost trusted proxy saw; entries further left are whatever the client sent); else REMOTE_ADDR. Trusting
    the header without a proxy would let every request pick its own address."""
    proxies = int(settings.HERALD_TRUSTED_PROXIES)
    if proxies > 0:
        forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            found = _address(forwarded[-proxies])
            if found is not None:
                return found
    return _address(request.META.get("REMOTE_ADDR"))
