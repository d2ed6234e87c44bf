"""Reads of automations and journeys for the reports app: the automation or journey behind a Send, the sends of
an automation, a run or a journey step. Ids and rows only; what a report adds up is the reports app's business."""

from __future__ import annotations

from django.db.models import QuerySet

from automations.models import Automation, AutomationRun, EnrollmentStep, Journey, JourneyStep


def automation_get(*, automation_id: int) -> Automation | None:
    return Automation.objects.filter(pk=automation_id).first()


def run_get(*, run_id: int) -> AutomationRun | None:
    return AutomationRun.objects.select_related("automation").filter(pk=run_id).first()


def journey_get(*, journey_id: int) -> Journey | None:
    return Journey.objects.filter(pk=journey_id).first()


def journey_goal(*, journey_id: int) -> object:
    """The journey's goal as stored (a dict like {"type": "event", "to_stage": ...}, or None)."""
    return Journey.objects.filter(pk=journey_id).values_list("goal", flat=True).first()


def journey_step_exists(*, journey_id: int, step_key: str) -> bool:
    return JourneyStep.objects.filter(journey_id=journey_id, key=step_key).exists()


def automation_exists(*, automation_id: int) -> bool:
    return Automation.objects.filter(pk=automation_id).exists()


def journey_exists(*, journey_id: int) -> bool:
    return Journey.objects.filter(pk=journey_id).exists()


def automation_of_send(*, send_id: int) -> Automation | None:
    """The automation whose run made this send (one run per send), or None."""
    run = AutomationRun.objects.filter(send_id=send_id).select_related("automation").first()
    return run.automation if run is not None else None


def journey_of_send(*, send_id: int) -> Journey | None:
    """The journey whose step made this send (a send serves many enrollments of one step), or None."""
    step = EnrollmentStep.objects.filter(send_id=send_id).select_related("enrollment__journey").first()
    return step.enrollment.journey if step is not None else None


def automation_send_ids(*, automation_id: int) -> QuerySet[AutomationRun, int]:
    return (
        AutomationRun.objects.filter(automation_id=automation_id, send__isnull=False)
        .order_by("send_id")
        .values_list("send_id", flat=True)
    )


def run_send_ids(*, run_id: int) -> QuerySet[AutomationRun, int]:
    return AutomationRun.objects.filter(pk=run_id, send__isnull=False).values_list("send_id", flat=True)


def journey_step_send_ids(*, journey_id: int, step_key: str) -> QuerySet[EnrollmentStep, int]:
    # One Send serves many enrollments of a step (one per batch the engine claims): distinct ids.
    return (
        EnrollmentStep.objects.filter(enrollment__journey_id=journey_id, step_key=step_key, send__isnull=False)
        .order_by("send_id")
        .values_list("send_id", flat=True)
        .distinct()
    )


def journey_send_ids(*, journey_id: int) -> QuerySet[EnrollmentStep, int]:
    return (
        EnrollmentStep.objects.filter(enrollment__journey_id=journey_id, send__isnull=False)
        .order_by("send_id")
        .values_list("send_id", flat=True)
        .distinct()
    )
