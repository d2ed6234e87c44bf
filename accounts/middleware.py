from __future__ import annotations

from typing import Any

from auditlog.middleware import AuditlogMiddleware as BaseAuditlogMiddleware
from django.http import HttpRequest

from accounts.security import client_ip


class AuditlogMiddleware(BaseAuditlogMiddleware):
    """django-auditlog's middleware (the actor of each change), recording the client address the lockout and the
    API throttle use: the stock one takes the first X-Forwarded-For entry, which any client can write."""

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> Any:
        return client_ip(request)

    @staticmethod
    def _get_remote_port(request: HttpRequest) -> int | None:
        return None
