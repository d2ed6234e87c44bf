"""Report pages (issue 17): one page shape for a send, a scenario, a campaign, an automation, one of its runs and a
journey step. Every page needs a login and is readable by every role; the conversion goal is changed by Admins
and Campaign Managers. Figures come from stored SendReports (`reports.services.reports_ensure` keeps them fresh).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from contacts.csvsafe import csv_safe
from reports import charts, export, selectors, services, targets
from reports.forms import GoalForm
from reports.goals import owner_goal


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


def _report(request: HttpRequest, target: targets.Target) -> HttpResponseBase:
    pending = services.reports_ensure(send_ids=target.send_ids)
    figures = selectors.report_figures(send_ids=target.send_ids)
    wanted = request.GET.get("export")
    name = slugify(target.title)[:80] or "report"
    if wanted == "figures":
        return _csv_response(selectors.figures_rows(figures), f"{name}-figures")
    if wanted == "recipients":
        return _csv_response(export.recipient_rows(send_ids=target.send_ids), f"{name}-recipients")
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
    return _report(request, targets.send_target(request, pk))


@login_required
def scenario_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, targets.scenario_target(request, pk))


@login_required
def campaign_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, targets.campaign_target(request, pk))


@login_required
def automation_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, targets.automation_target(request, pk))


@login_required
def automation_run_report(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _report(request, targets.run_target(request, pk))


@login_required
def journey_step_report(request: HttpRequest, pk: int, key: str) -> HttpResponseBase:
    return _report(request, targets.journey_step_target(request, pk, key))


@editor_required
@require_POST
def goal_update(request: HttpRequest, owner_type: str, owner_id: int) -> HttpResponse:
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("campaigns:list")
    if owner_type == "campaign":
        targets.visible_campaign(request, owner_id)
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
