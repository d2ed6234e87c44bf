"""What a report is about: the sends of a scenario, campaign, automation, run, journey step or one send, with the
owner whose conversion goal applies, titles and breadcrumbs. Shared by the pages and the API; a campaign outside
the user's reach (CAMPAIGN_OWNERSHIP_ONLY) is a 404 like a missing one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse

from automations.models import Automation, AutomationRun, Journey
from campaigns.models import Campaign, Scenario
from campaigns.selectors import campaigns_visible_to
from delivery.models import Send
from reports import owners
from reports.owners import Owner


@dataclass
class Target:
    title: str
    crumbs: list[tuple[str, str]]
    send_ids: list[int]
    owner: Owner | None
    help: str


def visible_campaign(request: Any, campaign_id: int) -> Campaign:
    campaign = campaigns_visible_to(request.user).filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


def campaign_target(request: Any, pk: int) -> Target:
    campaign = visible_campaign(request, pk)
    return Target(
        title=f"Report: {campaign.name}",
        crumbs=[("Campaigns", reverse("campaigns:list")), (campaign.name, reverse("campaigns:detail", args=[pk]))],
        send_ids=list(owners.campaign_send_ids(campaign=campaign)),
        owner=owners.campaign_owner(campaign),
        help="Every scenario of the campaign sent so far, added up.",
    )


def scenario_target(request: Any, pk: int) -> Target:
    scenario = get_object_or_404(Scenario.objects.select_related("campaign"), pk=pk)
    campaign = visible_campaign(request, scenario.campaign_id)
    return Target(
        title=f"Report: {scenario.subject}",
        crumbs=[
            ("Campaigns", reverse("campaigns:list")),
            (campaign.name, reverse("campaigns:detail", args=[campaign.pk])),
            (scenario.subject, reverse("campaigns:scenario-detail", args=[pk])),
        ],
        send_ids=list(owners.scenario_send_ids(scenario=scenario)),
        owner=owners.campaign_owner(campaign),
        help="The scenario's send: everyone in the audience when it started.",
    )


def automation_target(request: Any, pk: int) -> Target:
    automation = get_object_or_404(Automation, pk=pk)
    return Target(
        title=f"Report: {automation.name}",
        crumbs=[
            ("Automations", reverse("automations:list")),
            (automation.name, reverse("automations:detail", args=[pk])),
        ],
        send_ids=list(owners.automation_send_ids(automation=automation)),
        owner=owners.automation_owner(automation),
        help="Every run of the automation, added up.",
    )


def run_target(request: Any, pk: int) -> Target:
    run = get_object_or_404(AutomationRun.objects.select_related("automation"), pk=pk)
    automation = run.automation
    return Target(
        title=f"Report: {automation.name}, run of {run.due_at:%Y-%m-%d %H:%M}",
        crumbs=[
            ("Automations", reverse("automations:list")),
            (automation.name, reverse("automations:detail", args=[automation.pk])),
            (f"Run of {run.due_at:%Y-%m-%d %H:%M}", reverse("automations:run-detail", args=[automation.pk, pk])),
        ],
        send_ids=list(owners.run_send_ids(run=run)),
        owner=owners.automation_owner(automation),
        help="One firing of the automation.",
    )


def journey_step_target(request: Any, pk: int, key: str) -> Target:
    journey = get_object_or_404(Journey, pk=pk)
    if not journey.steps.filter(key=key).exists():
        raise Http404("No such step.")
    return Target(
        title=f"Report: {journey.name}, step {key}",
        crumbs=[("Journeys", reverse("journeys:list")), (journey.name, reverse("journeys:detail", args=[pk]))],
        send_ids=list(owners.journey_step_send_ids(journey=journey, step_key=key)),
        owner=owners.journey_owner(journey),
        help="Every email this step sent: contacts reach it at different times, so it is many small sends.",
    )


def send_target(request: Any, pk: int) -> Target:
    send = get_object_or_404(Send, pk=pk)
    owner = owners.send_owner(send_id=pk)
    if owner is not None and owner.type == "campaign":
        visible_campaign(request, owner.id)
    crumbs = [(owner.name, owner.url)] if owner else []
    return Target(
        title=f"Report: {send}",
        crumbs=crumbs,
        send_ids=[pk],
        owner=owner,
        help="One send of the engine: one message to one audience.",
    )


TARGETS: dict[str, Callable[..., Target]] = {
    "send": send_target,
    "scenario": scenario_target,
    "campaign": campaign_target,
    "automation": automation_target,
    "automation_run": run_target,
    "journey_step": journey_step_target,
}
