"""Dashboard pages of campaigns: list, create, edit, detail with its contacts upload, history, the quick wizard
(seeds 000, 002, 004).

Every page needs a login and is readable by every role; every POST needs the Admin or Campaign Manager role
(`editor_required`). Views parse input, call one service or selector and format the result: the rules live
in `campaigns.services` and their ValidationError / ScenarioStateError messages are shown as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone as dj_timezone
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from campaigns import selectors, services
from campaigns.forms import (
    CampaignFilterForm,
    CampaignForm,
    ContactUploadForm,
    HistoryFilterForm,
    QuickCampaignForm,
    apply_service_errors,
)
from campaigns.models import Scenario
from campaigns.views._common import _filters, _get_campaign, _page
from campaigns.views.scenarios import scenario_progress_of
from contacts import selectors as contact_selectors
from contacts.models import ImportJob

ERROR_LINES_SHOWN = 20
# The timeline a new campaign form suggests (a new scenario's time: `selectors.scenario_suggested_send_at`).
NEW_CAMPAIGN_DAYS = dt.timedelta(days=30)
ScenarioStatus = Scenario.Status


# --- campaigns --------------------------------------------------------------------------------------------


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    form = CampaignFilterForm(request.GET)
    page = _page(request, selectors.campaign_list(**_filters(form), user=request.user))
    sizes = selectors.campaign_audience_sizes(campaigns=page)
    for campaign in page:
        campaign.audience = selectors.audience_label(campaign=campaign, batch_size=campaign.batch_size)
        campaign.audience_size = sizes[campaign.pk]
    context: dict[str, Any] = {"page": page, "form": form}
    if not request.GET:
        # Seed 004's overview: what goes out next, what is going out, what went out lately.
        context["show_overview"] = True
        context["upcoming"] = selectors.scenario_list(status=ScenarioStatus.SCHEDULED, user=request.user).order_by(
            "send_date", "send_time", "id"
        )[:5]
        context["ongoing"] = selectors.scenario_list(user=request.user).filter(
            status__in=(ScenarioStatus.SENDING, ScenarioStatus.PAUSED)
        )[:5]
        context["recent"] = selectors.scenario_list(status=ScenarioStatus.SENT, user=request.user).order_by(
            "-sent_at", "-id"
        )[:5]
    return render(request, "campaigns/campaign_list.html", context)


@editor_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    today = dj_timezone.localdate()
    form = CampaignForm(request.POST or None, initial={"start_date": today, "end_date": today + NEW_CAMPAIGN_DAYS})
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(**form.cleaned_data, user=request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Campaign “{campaign.name}” created with its own batch.")
            return redirect("campaigns:detail", pk=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": None})


@editor_required
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk, request.user)
    form = CampaignForm(request.POST or None, initial=CampaignForm.initial_for(campaign))
    if request.method == "POST" and form.is_valid():
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in services.CAMPAIGN_FIELDS}
        try:
            if changes:
                services.campaign_update(campaign=campaign, **changes)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Campaign saved." if changes else "Nothing changed.")
            return redirect("campaigns:detail", pk=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": campaign})


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk, request.user)
    scenarios = list(selectors.scenario_list(campaign_id=campaign.pk).order_by("send_date", "send_time", "id"))
    rows = [(scenario, scenario_progress_of(scenario)) for scenario in scenarios]
    imports = list(contact_selectors.import_job_list().filter(batch_id=campaign.batch_id)[:5])
    latest_errors = (
        [
            (error.line, error.reason)
            for error in contact_selectors.import_job_errors(job=imports[0], limit=ERROR_LINES_SHOWN)
        ]
        if imports and imports[0].errors
        else []
    )
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "audience": selectors.audience_label(campaign=campaign, batch_size=campaign.batch_size),  # type: ignore[attr-defined]
            "audience_size": selectors.campaign_audience_size(campaign=campaign),
            "rows": rows,
            "imports": imports,
            "latest_errors": latest_errors,
            "upload_form": ContactUploadForm(),
        },
    )


@editor_required
@require_POST
def campaign_upload(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk, request.user)
    form = ContactUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form["file"].errors:
            messages.error(request, str(error))
        return redirect("campaigns:detail", pk=campaign.pk)
    job = services.campaign_contacts_import(campaign=campaign, file=form.cleaned_data["file"], user=request.user)
    # A small file was imported within this request: answer with its outcome. A big one runs on a worker:
    # follow it on the import's progress page.
    if job.status == ImportJob.Status.FAILED:
        messages.error(request, f"{job.original_name} was not imported: {job.message}")
    elif job.status == ImportJob.Status.DONE:
        messages.success(request, f"{job.original_name} imported into the campaign's batch: {job.message}")
    else:
        messages.info(request, f"Importing {job.original_name} into the campaign's batch.")
        return redirect(reverse("contacts:import-detail", args=[job.pk]))
    return redirect("campaigns:detail", pk=campaign.pk)


# --- history and the quick wizard -------------------------------------------------------------------------


@login_required
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET)
    filters = _filters(form)
    if "created_by" in filters:
        filters["created_by_id"] = filters.pop("created_by").pk
    page = _page(request, selectors.campaign_history(**filters, user=request.user))
    for scenario in page:
        scenario.audience = selectors.audience_label(campaign=scenario.campaign, batch_size=scenario.batch_size)
    # Campaigns with no scenario yet are part of the history too (seed 004: "all created campaigns").
    empty = selectors.campaign_list(
        search=filters.get("search", ""),
        status=filters.get("status", ""),
        created_by_id=filters.get("created_by_id"),
        user=request.user,
    ).filter(scenario_count=0)  # type: ignore[misc]
    if filters.get("channel"):
        empty = empty.filter(channel=filters["channel"])
    if filters.get("date_from"):
        empty = empty.filter(end_date__gte=filters["date_from"])
    if filters.get("date_to"):
        empty = empty.filter(start_date__lte=filters["date_to"])
    return render(request, "campaigns/history.html", {"page": page, "form": form, "empty_campaigns": empty[:20]})


@editor_required
def quick_campaign(request: HttpRequest) -> HttpResponse:
    form = QuickCampaignForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            uploading = data["audience"] == QuickCampaignForm.AUDIENCE_UPLOAD
            scenario, job = services.campaign_quick_create(
                name=data["name"],
                timezone=data["timezone"],
                subject=data["subject"],
                content=data["content"],
                template=data["template"],
                segment=None if uploading else data["segment"],
                file=data["file"] if uploading else None,
                at=form.send_at_aware(),
                user=request.user,
            )
        except (ValidationError, services.ScenarioStateError) as exc:
            _quick_errors(form, exc)
        else:
            if job is not None and scenario.status == ScenarioStatus.DRAFT:
                messages.info(
                    request,
                    f"Campaign created. {job.original_name} is being imported; press “Send now” when the import "
                    "is done.",
                )
            else:
                imported = f" {job.message}" if job is not None else ""
                status = scenario.get_status_display().lower()
                messages.success(request, f"Campaign created; the scenario is {status}.{imported}")
            return redirect("campaigns:scenario-detail", pk=scenario.pk)
    return render(request, "campaigns/quick.html", {"form": form})


def _quick_errors(form: QuickCampaignForm, exc: Exception) -> None:
    if isinstance(exc, services.ScenarioStateError):
        form.add_error(None, str(exc))
        return
    assert isinstance(exc, ValidationError)
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    # The scenario's date and time come from the wizard's single "send at" field.
    renamed = {"send_date": "send_at", "send_time": "send_at", "start_date": "send_at", "end_date": "send_at"}
    for field, errors in exc.message_dict.items():
        target = renamed.get(field, field)
        form.add_error(target if target in form.fields else None, errors)
