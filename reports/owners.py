"""Who owns a Send (a scenario's Emailer, an automation run, a journey step) and which sends an owner has.

reports sits on top of campaigns and automations, so it reads their rows; the engine itself knows no owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.urls import reverse

from automations.models import Automation, AutomationRun, EnrollmentStep, Journey
from campaigns.models import Campaign, Emailer, Scenario
from delivery.models import Send
from reports.models import ConversionGoal


@dataclass(frozen=True)
class Owner:
    """The campaign, automation or journey whose conversion goal applies to a send, and where it lives."""

    type: str
    id: int
    name: str
    url: str


def send_owner(*, send_id: int) -> Owner | None:
    emailer = Emailer.objects.filter(send_id=send_id).select_related("campaign").first()
    if emailer is not None:
        campaign = emailer.campaign
        return Owner(
            ConversionGoal.Owner.CAMPAIGN, campaign.pk, campaign.name, reverse("campaigns:detail", args=[campaign.pk])
        )
    run = AutomationRun.objects.filter(send_id=send_id).select_related("automation").first()
    if run is not None:
        automation = run.automation
        return Owner(
            ConversionGoal.Owner.AUTOMATION,
            automation.pk,
            automation.name,
            reverse("automations:detail", args=[automation.pk]),
        )
    step = EnrollmentStep.objects.filter(send_id=send_id).select_related("enrollment__journey").first()
    if step is not None:
        journey = step.enrollment.journey
        return Owner(
            ConversionGoal.Owner.JOURNEY, journey.pk, journey.name, reverse("journeys:detail", args=[journey.pk])
        )
    return None


def campaign_owner(campaign: Campaign) -> Owner:
    return Owner(
        ConversionGoal.Owner.CAMPAIGN, campaign.pk, campaign.name, reverse("campaigns:detail", args=[campaign.pk])
    )


def automation_owner(automation: Automation) -> Owner:
    return Owner(
        ConversionGoal.Owner.AUTOMATION,
        automation.pk,
        automation.name,
        reverse("automations:detail", args=[automation.pk]),
    )


def journey_owner(journey: Journey) -> Owner:
    return Owner(ConversionGoal.Owner.JOURNEY, journey.pk, journey.name, reverse("journeys:detail", args=[journey.pk]))


def scenario_send_ids(*, scenario: Scenario) -> QuerySet[Send, int]:
    return Send.objects.filter(emailer__scenario_id=scenario.pk).values_list("id", flat=True)


def campaign_send_ids(*, campaign: Campaign) -> QuerySet[Send, int]:
    return Send.objects.filter(emailer__campaign_id=campaign.pk).values_list("id", flat=True)


def automation_send_ids(*, automation: Automation) -> QuerySet[Send, int]:
    return Send.objects.filter(automation_run__automation_id=automation.pk).values_list("id", flat=True)


def run_send_ids(*, run: AutomationRun) -> QuerySet[Send, int]:
    return Send.objects.filter(automation_run=run.pk).values_list("id", flat=True)


def journey_step_send_ids(*, journey: Journey, step_key: str) -> QuerySet[Send, int]:
    # One Send serves many enrollments of a step (one per batch the engine claims): distinct ids.
    ids = EnrollmentStep.objects.filter(enrollment__journey_id=journey.pk, step_key=step_key, send__isnull=False)
    return Send.objects.filter(id__in=ids.values("send_id")).values_list("id", flat=True)


def owner_exists(*, owner_type: str, owner_id: int) -> bool:
    if owner_type == ConversionGoal.Owner.CAMPAIGN:
        return Campaign.objects.filter(pk=owner_id).exists()
    if owner_type == ConversionGoal.Owner.AUTOMATION:
        return Automation.objects.filter(pk=owner_id).exists()
    if owner_type == ConversionGoal.Owner.JOURNEY:
        return Journey.objects.filter(pk=owner_id).exists()
    return False


def owner_send_ids(*, owner_type: str, owner_id: int) -> QuerySet[Send, int]:
    if owner_type == ConversionGoal.Owner.CAMPAIGN:
        return Send.objects.filter(emailer__campaign_id=owner_id).values_list("id", flat=True)
    if owner_type == ConversionGoal.Owner.AUTOMATION:
        return Send.objects.filter(automation_run__automation_id=owner_id).values_list("id", flat=True)
    ids = EnrollmentStep.objects.filter(enrollment__journey_id=owner_id, send__isnull=False)
    return Send.objects.filter(id__in=ids.values("send_id")).values_list("id", flat=True)
