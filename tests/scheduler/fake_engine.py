"""A stand-in for the send engine (`campaigns.engine.SendEngine`) in unit tests of campaigns and the scheduler.

It creates real Send rows (so foreign keys hold), counts the audience the way the engine would and publishes the
engine's events through `delivery.events`, but sends nothing. The real engine publishes when its transaction
commits; the fake publishes at once, as if every commit had happened (unit tests run inside one transaction).
The end-to-end tests in tests/e2e use the real engine.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from delivery import events
from delivery.models import Send


class FakeEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def send_create(
        self,
        *,
        label: str,
        subject: str,
        body_text: str = "",
        body_html: str = "",
        template_id: int | None = None,
        from_email: str = "",
        track_opens: bool = True,
        track_clicks: bool = True,
    ) -> Send:
        self.calls.append(
            (
                "send_create",
                {"label": label, "subject": subject, "body_text": body_text, "template_id": template_id},
            )
        )
        return Send.objects.create(
            label=label,
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            template_id=template_id,
            track_opens=track_opens,
            track_clicks=track_clicks,
        )

    def send_start(self, *, send_id: int, audience: QuerySet[Any]) -> int:
        total = len(list(audience))
        self.calls.append(("send_start", {"send_id": send_id, "total": total}))
        Send.objects.filter(pk=send_id).update(total=total, status=Send.Status.SENDING)
        events.publish(send_id=send_id, event="started")
        return total

    def send_pause(self, *, send_id: int, reason: str = "") -> bool:
        self.calls.append(("send_pause", {"send_id": send_id, "reason": reason}))
        changed = Send.objects.filter(pk=send_id, status=Send.Status.SENDING).update(status=Send.Status.PAUSED)
        if changed:
            events.publish(send_id=send_id, event="paused", reason=reason)
        return bool(changed)

    def send_resume(self, *, send_id: int) -> int:
        self.calls.append(("send_resume", {"send_id": send_id}))
        if Send.objects.filter(pk=send_id, status=Send.Status.PAUSED).update(status=Send.Status.SENDING):
            events.publish(send_id=send_id, event="resumed")
        return 0

    def send_cancel(self, *, send_id: int, reason: str = "") -> int:
        self.calls.append(("send_cancel", {"send_id": send_id, "reason": reason}))
        cancellable = (Send.Status.PENDING, Send.Status.SENDING, Send.Status.PAUSED)
        if Send.objects.filter(pk=send_id, status__in=cancellable).update(status=Send.Status.CANCELLED):
            events.publish(send_id=send_id, event="cancelled", reason=reason)
        return 0

    def send_retry_failed(self, *, send_id: int) -> int:
        self.calls.append(("send_retry_failed", {"send_id": send_id}))
        failed = Send.objects.filter(pk=send_id).values_list("failed", flat=True).get()
        if failed:
            Send.objects.filter(pk=send_id).update(status=Send.Status.SENDING, failed=0)
            events.publish(send_id=send_id, event="resumed")
        return failed
