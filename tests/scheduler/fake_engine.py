"""A stand-in for `delivery.services` in unit tests of campaigns and the scheduler.

It creates real Send rows (so foreign keys hold) and counts the audience the way the engine would, but sends
nothing; the end-to-end test in tests/e2e uses the real engine.
"""

from __future__ import annotations

from typing import Any

from delivery.models import Send


class FakeEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def send_create(self, **kwargs: Any) -> Send:
        self.calls.append(("send_create", kwargs))
        return Send.objects.create(
            label=kwargs.get("label", ""),
            subject=kwargs["subject"],
            body_text=kwargs.get("body_text", ""),
            body_html=kwargs.get("body_html", ""),
            template_id=kwargs.get("template_id"),
        )

    def send_start(self, *, send_id: int, audience: Any) -> int:
        total = len(list(audience))
        self.calls.append(("send_start", {"send_id": send_id, "total": total}))
        Send.objects.filter(pk=send_id).update(total=total, status=Send.Status.SENDING)
        return total

    def send_pause(self, *, send_id: int, reason: str = "") -> None:
        self.calls.append(("send_pause", {"send_id": send_id, "reason": reason}))

    def send_resume(self, *, send_id: int) -> None:
        self.calls.append(("send_resume", {"send_id": send_id}))

    def send_cancel(self, *, send_id: int, reason: str = "") -> int:
        self.calls.append(("send_cancel", {"send_id": send_id, "reason": reason}))
        return 0

    def send_retry_failed(self, *, send_id: int) -> int:
        self.calls.append(("send_retry_failed", {"send_id": send_id}))
        return Send.objects.filter(pk=send_id).values_list("failed", flat=True).get()

    def watchdog(self) -> int:
        self.calls.append(("watchdog", {}))
        return 0
