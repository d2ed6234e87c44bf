"""The send engine as campaigns uses it: a typed Protocol of the part of `delivery.services` it calls.

`send_engine()` is the one seam. Production returns the `delivery.services` module itself (mypy checks that the
module satisfies `SendEngine`); unit tests stand in a recorder (tests/scheduler/fake_engine.py) that satisfies the
same Protocol, so nothing in production code bends for the fake.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.db.models import QuerySet

from delivery import services as delivery_services
from delivery.models import Send


class SendEngine(Protocol):
    """The engine's public API campaigns depends on (ARCHITECTURE §3, "Sending"). Its events come back through
    `delivery.events`, after each change has committed."""

    def send_create(
        self,
        *,
        label: str,
        subject: str,
        body_text: str = ...,
        body_html: str = ...,
        template_id: int | None = ...,
        from_email: str = ...,
        track_opens: bool = ...,
        track_clicks: bool = ...,
    ) -> Send: ...

    def send_start(self, *, send_id: int, audience: QuerySet[Any]) -> int: ...

    def send_pause(self, *, send_id: int, reason: str = ...) -> bool: ...

    def send_resume(self, *, send_id: int) -> int: ...

    def send_cancel(self, *, send_id: int, reason: str = ...) -> int: ...

    def send_retry_failed(self, *, send_id: int) -> int: ...


def send_engine() -> SendEngine:
    return delivery_services
