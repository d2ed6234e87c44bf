"""Reads of journeys for the pages: per-step counts and a contact's journeys."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count

from automations.journey_models import Enrollment, EnrollmentStep, Journey, JourneyStep
from delivery.models import Delivery


@dataclass
class StepRow:
    step: JourneyStep
    waiting: int = 0
    sent: int = 0
    failed: int = 0


def journey_step_rows(*, journey: Journey) -> list[StepRow]:
    """The steps top to bottom with how many contacts wait there, and the sent / failed emails of send steps
    (the Delivery rows are the truth; a step's Sends are found through its history rows)."""
    rows = [StepRow(step=s) for s in journey.steps.select_related("template").order_by("position", "id")]
    by_key = {r.step.key: r for r in rows}
    waiting = (
        Enrollment.objects.filter(journey=journey, status=Enrollment.Status.ACTIVE)
        .values("step_key")
        .annotate(n=Count("id"))
    )
    for item in waiting:
        if item["step_key"] in by_key:
            by_key[item["step_key"]].waiting = item["n"]
    send_steps = dict(
        EnrollmentStep.objects.filter(enrollment__journey=journey, send__isnull=False)
        .values_list("send_id", "step_key")
        .distinct()
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    delivered = (
        Delivery.objects.filter(send_id__in=list(send_steps))
        .values("send_id", "status")
        .annotate(n=Count("id"))
        .values_list("send_id", "status", "n")
    )
    for send_id, status, n in delivered:
        counts[send_steps[send_id]][status] += n
    for key, by_status in counts.items():
        if key in by_key:
            by_key[key].sent = by_status.get(Delivery.Status.SENT, 0)
            by_key[key].failed = sum(
                by_status.get(s, 0)
                for s in (Delivery.Status.FAILED, Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED)
            )
    return rows


def journey_status_counts(*, journey: Journey) -> dict[str, int]:
    return dict(
        Enrollment.objects.filter(journey=journey)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def contact_enrollments(*, contact_id: int) -> list[Enrollment]:
    return list(
        Enrollment.objects.filter(contact_id=contact_id)
        .select_related("journey")
        .prefetch_related("history")
        .order_by("-entered_at", "-id")[:50]
    )
