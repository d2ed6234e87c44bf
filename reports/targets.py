"""What a report is about: the sends of a scenario, campaign, automation, run, journey step or one send, with the
owner whose conversion goal applies, titles and breadcrumbs. Shared by the pages and the API; a campaign outside
the user's reach (CAMPAIGN_OWNERSHIP_ONLY) is a 404 like a missing one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from django.urls import reverse

from automations import report_selectors as automation_reads
from campaigns import report_selectors as campaign_reads
from campaigns.selectors import campaigns_visible_to
from delivery.overview_selectors import send_get
from reports import owners
from reports.owners import Owner


@dataclass
class Target:
    title: str
    crumbs: list[tuple[str, str]]
    send_ids: list[int]
    owner: Owner | None
    help: str


def _found(row: Any, what: str) -> Any:
    if row is None:
        raise Http404(f"No such {what}.")
    return row


def visible_campaign(request: Any, campaign_id: int) -> Any:
    campaign = campaigns_visible_to(request.user).filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


def campaign_target(request: Any, pk: int) -> Target:
    campaign = visible_campaign(request, pk)
    return Target(
        title=f"Report: {campaign.name}",
        crumbs=[("Campaigns", reverse("campaigns:list")), (campaign.name, reverse("campaigns:detail", args=[pk]))],
        send_ids=owners.campaign_send_ids(campaign_id=campaign.pk),
        owner=owners.campaign_owner(campaign),
        help="Every scenario of the campaign sent so far, added up.",
    )


def scenario_target(request: Any, pk: int) -> Target:
    scenario = _found(campaign_reads.scenario_get(scenario_id=pk), "scenario")
    campaign = visible_campaign(request, scenario.campaign_id)
    return Target(
        title=f"Report: {scenario.subject}",
        crumbs=[
            ("Campaigns", reverse("campaigns:list")),
            (campaign.name, reverse("campaigns:detail", args=[campaign.pk])),
            (scenario.subject, reverse("campaigns:scenario-detail", args=[pk])),
        ],
        send_ids=owners.scenario_send_ids(scenario_id=scenario.pk),
        owner=owners.campaign_owner(campaign),
        help="The scenario's send: everyone in the audience when it started.",
    )


def automation_target(request: Any, pk: int) -> Target:
    automation = _found(automation_reads.automation_get(automation_id=pk), "automation")
    return Target(
        title=f"Report: {automation.name}",
        crumbs=[
            ("Automations", reverse("automations:list")),
            (automation.name, reverse("automations:detail", args=[pk])),
        ],
        send_ids=owners.automation_send_ids(automation_id=automation.pk),
        owner=owners.automation_owner(automation),
        help="Every run of the automation, added up.",
    )


def run_target(request: Any, pk: int) -> Target:
    run = _found(automation_reads.run_get(run_id=pk), "automation run")
    automation = run.automation
    return Target(
        title=f"Report: {automation.name}, run of {run.due_at:%Y-%m-%d %H:%M}",
        crumbs=[
            ("Automations", reverse("automations:list")),
            (automation.name, reverse("automations:detail", args=[automation.pk])),
            (f"Run of {run.due_at:%Y-%m-%d %H:%M}", reverse("automations:run-detail", args=[automation.pk, pk])),
        ],
        send_ids=owners.run_send_ids(run_id=run.pk),
        owner=owners.automation_owner(automation),
        help="One firing of the automation.",
    )


def journey_step_target(request: Any, pk: int, key: str) -> Target:
    journey = _found(automation_reads.journey_get(journey_id=pk), "journey")
    if not automation_reads.journey_step_exists(journey_id=pk, step_key=key):
        raise Http404("No such step.")
    return Target(
        title=f"Report: {journey.name}, step {key}",
        crumbs=[("Journeys", reverse("journeys:list")), (journey.name, reverse("journeys:detail", args=[pk]))],
        send_ids=owners.journey_step_send_ids(journey_id=journey.pk, step_key=key),
        owner=owners.journey_owner(journey),
        help="Every email this step sent: contacts reach it at different times, so it is many small sends.",
    )


def send_target(request: Any, pk: int) -> Target:
    send = _found(send_get(send_id=pk), "send")
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
