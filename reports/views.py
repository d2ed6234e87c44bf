"""Report pages (issue 17): one page shape for a send, a scenario, a campaign, an automation, one of its runs and a
journey step. Every page needs a login and is readable by every role; the conversion goal is changed by Admins
and Campaign Managers. Figures come from stored SendReports (`reports.services.reports_ensure` keeps them fresh).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from automations.models import Automation, AutomationRun, Journey
from campaigns.models import Campaign, Scenario
from campaigns.selectors import campaigns_visible_to
from contacts.csvsafe import csv_safe
from delivery.models import Send
from reports import charts, owners, selectors, services
from reports.forms import GoalForm
from reports.goals import owner_goal
from reports.owners import Owner


@dataclass
class Target:
    title: str
    crumbs: list[tuple[str, str]]
    send_ids: list[int]
    owner: Owner | None
    help: str
    sends: list[Send] = field(default_factory=list)


def _visible_campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = campaigns_visible_to(request.user).filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


def _campaign_target(request: HttpRequest, pk: int) -> Target:
    campaign = _visible_campaign(request, pk)
    return Target(
        title=f"Report: {campaign.name}",
        crumbs=[("Campaigns", reverse("campaigns:list")), (campaign.name, reverse("campaigns:detail", args=[pk]))],
        send_ids=list(owners.campaign_send_ids(campaign=campaign)),
        owner=owners.campaign_owner(campaign),
        help="Every scenario of the campaign sent so far, added up.",
    )


def _scenario_target(request: HttpRequest, pk: int) -> Target:
    scenario = get_object_or_404(Scenario.objects.select_related("campaign"), pk=pk)
    campaign = _visible_campaign(request, scenario.campaign_id)
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


def _automation_target(request: HttpRequest, pk: int) -> Target:
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


def _run_target(request: HttpRequest, pk: int) -> Target:
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


def _journey_step_target(request: HttpRequest, pk: int, key: str) -> Target:
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


def _send_target(request: HttpRequest, pk: int) -> Target:
    send = get_object_or_404(Send, pk=pk)
    owner = owners.send_owner(send_id=pk)
    if owner is not None and owner.type == "campaign":
        _visible_campaign(request, owner.id)
    crumbs = [(owner.name, owner.url)] if owner else []
    return Target(
        title=f"Report: {send}",
        crumbs=crumbs,
        send_ids=[pk],
        owner=owner,
        help="One send of the engine: one message to one audience.",
    )


def _csv_response(rows: Iterable[list[Any]], name: str) -> StreamingHttpResponse:
    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())

    def stream() -> Iterator[str]:
        for row in rows:
            yield writer.writerow([csv_safe(cell) for cell in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _report(request: HttpRequest, target: Target) -> HttpResponseBase:
    pending = services.reports_ensure(send_ids=target.send_ids)
    figures = selectors.report_figures(send_ids=target.send_ids)
    export = request.GET.get("export")
    name = slugify(target.title)[:80] or "report"
    if export == "figures":
        return _csv_response(selectors.figures_rows(figures), f"{name}-figures")
    if export == "recipients":
        return _csv_response(selectors.recipient_rows(send_ids=target.send_ids), f"{name}-recipients")
    goal = owner_goal(owner_type=target.owner.type, owner_id=target.owner.id) if target.owner else None
    goal_form = GoalForm(initial={"stage": goal.stage, "window_days": goal.window_days}) if goal else None
    context = {
        "target": target,
        "figures": figures,
        "rates": figures.rates,
        "pending": len(pending),
        "goal": goal,
        "goal_form": goal_form,
        "hourly_chart": charts.engagement_chart(rows=figures.hourly(), unit="h", every=6),
        "daily_chart": charts.engagement_chart(rows=figures.daily(), unit="d", every=3),
        "links": figures.links[:50],
        "more_links": max(0, len(figures.links) - 50),
    }
    return render(request, "reports/report.html", context)


@login_required
def send_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, _send_target(request, pk))


@login_required
def scenario_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, _scenario_target(request, pk))


@login_required
def campaign_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, _campaign_target(request, pk))


@login_required
def automation_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, _automation_target(request, pk))


@login_required
def automation_run_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, _run_target(request, pk))


@login_required
def journey_step_report(request: HttpRequest, pk: int, key: str) -> HttpResponseBase:
    return _report(request, _journey_step_target(request, pk, key))


@editor_required
@require_POST
def goal_update(request: HttpRequest, owner_type: str, owner_id: int) -> HttpResponse:
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("campaigns:list")
    if owner_type == "campaign":
        _visible_campaign(request, owner_id)
    form = GoalForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(back)
    try:
        services.conversion_goal_set(
            owner_type=owner_type,
            owner_id=owner_id,
            stage=form.cleaned_data["stage"],
            window_days=form.cleaned_data["window_days"],
            user=request.user,
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, str(message))
        return redirect(back)
    messages.success(request, "Conversion goal saved: the figures are being recomputed with it.")
    return redirect(back)
