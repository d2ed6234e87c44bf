"""Who owns a Send (a scenario's Emailer, an automation run, a journey step) and which sends an owner has.

reports sits on top of campaigns and automations and reads them through their report selectors
(campaigns.report_selectors, automations.report_selectors); the engine itself knows no owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse

from automations import report_selectors as automation_reads
from campaigns import report_selectors as campaign_reads
from reports.models import ConversionGoal


@dataclass(frozen=True)
class Owner:
    """The campaign, automation or journey whose conversion goal applies to a send, and where it lives."""

    type: str
    id: int
    name: str
    url: str


def campaign_owner(campaign: Any) -> Owner:
    return Owner(
        ConversionGoal.Owner.CAMPAIGN, campaign.pk, campaign.name, reverse("campaigns:detail", args=[campaign.pk])
    )


def automation_owner(automation: Any) -> Owner:
    return Owner(
        ConversionGoal.Owner.AUTOMATION,
        automation.pk,
        automation.name,
        reverse("automations:detail", args=[automation.pk]),
    )


def journey_owner(journey: Any) -> Owner:
    return Owner(ConversionGoal.Owner.JOURNEY, journey.pk, journey.name, reverse("journeys:detail", args=[journey.pk]))


def send_owner(*, send_id: int) -> Owner | None:
    campaign = campaign_reads.campaign_of_send(send_id=send_id)
    if campaign is not None:
        return campaign_owner(campaign)
    automation = automation_reads.automation_of_send(send_id=send_id)
    if automation is not None:
        return automation_owner(automation)
    journey = automation_reads.journey_of_send(send_id=send_id)
    if journey is not None:
        return journey_owner(journey)
    return None


def scenario_send_ids(*, scenario_id: int) -> list[int]:
    return list(campaign_reads.scenario_send_ids(scenario_id=scenario_id))


def campaign_send_ids(*, campaign_id: int) -> list[int]:
    return list(campaign_reads.campaign_send_ids(campaign_id=campaign_id))


def automation_send_ids(*, automation_id: int) -> list[int]:
    return list(automation_reads.automation_send_ids(automation_id=automation_id))


def run_send_ids(*, run_id: int) -> list[int]:
    return list(automation_reads.run_send_ids(run_id=run_id))


def journey_step_send_ids(*, journey_id: int, step_key: str) -> list[int]:
    return list(automation_reads.journey_step_send_ids(journey_id=journey_id, step_key=step_key))


def owner_exists(*, owner_type: str, owner_id: int) -> bool:
    if owner_type == ConversionGoal.Owner.CAMPAIGN:
        return campaign_reads.campaign_exists(campaign_id=owner_id)
    if owner_type == ConversionGoal.Owner.AUTOMATION:
        return automation_reads.automation_exists(automation_id=owner_id)
    if owner_type == ConversionGoal.Owner.JOURNEY:
        return automation_reads.journey_exists(journey_id=owner_id)
    return False


def owner_send_ids(*, owner_type: str, owner_id: int) -> QuerySet[Any, int]:
    """The owner's send ids as a query (a subquery of the caller's statement, not a list)."""
    if owner_type == ConversionGoal.Owner.CAMPAIGN:
        return campaign_reads.campaign_send_ids(campaign_id=owner_id)
    if owner_type == ConversionGoal.Owner.AUTOMATION:
        return automation_reads.automation_send_ids(automation_id=owner_id)
    return automation_reads.journey_send_ids(journey_id=owner_id)
