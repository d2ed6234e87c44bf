"""Dashboard pages of campaigns and scenarios (seeds 000, 002, 004).

Every page needs a login and is readable by every role; every POST needs the Admin or Campaign Manager role
(`editor_required`). Views parse input, call one service or selector and format the result: the rules live
in `campaigns.services` and their ValidationError / ScenarioStateError messages are shown as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone as dj_timezone
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from campaigns import selectors, services
from campaigns.display import subject_label
from campaigns.forms import (
    CampaignFilterForm,
    CampaignForm,
    ContactUploadForm,
    HistoryFilterForm,
    QuickCampaignForm,
    ScenarioFilterForm,
    ScenarioForm,
    apply_service_errors,
)
from campaigns.models import Campaign, Emailer, Scenario
from contacts import selectors as contact_selectors
from contacts.models import ImportJob
from templates_app import selectors as template_selectors
from templates_app.forms import TestSendForm

PAGE_SIZE = 25
ERROR_LINES_SHOWN = 20
# The timeline a new campaign form suggests (a new scenario's time: `selectors.scenario_suggested_send_at`).
NEW_CAMPAIGN_DAYS = dt.timedelta(days=30)
S = Scenario.Status
# Statuses after which nothing moves on its own: the progress partial stops polling.
SETTLED = (S.SENT, S.CANCELLED, S.FAILED)
# How often the state of a scenario that is not sending is re-read (it may start at its time, or be acted on
# from another tab); each poll of a not-yet-sent scenario counts its audience, so not every second.
POLL_IDLE_SECONDS = 5


# --- scoped getters ---------------------------------------------------------------------------------------


def _get_campaign(pk: int) -> Campaign:
    try:
        return selectors.campaign_get(campaign_id=pk)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None


def _get_scenario(pk: int) -> Scenario:
    scenario = selectors.scenario_list().filter(pk=pk).first()
    if scenario is None:
        raise Http404("No such scenario.")
    return scenario


def _page(request: HttpRequest, qs: Any) -> Any:
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def _filters(form: Any) -> dict[str, Any]:
    """Cleaned GET filters; a malformed filter is dropped (a list page never answers 400)."""
    form.is_valid()
    return {name: value for name, value in form.cleaned_data.items() if value not in (None, "")}


# --- progress ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """What the live bar shows for one scenario."""

    started: bool
    total: int
    sent: int
    failed: int
    queued: int
    percent: int
    failed_percent: int
    rate: str
    eta: str
    reason: str
    live: bool


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {whole:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _send_id(scenario: Scenario) -> int | None:
    try:
        return scenario.emailer.send_id
    except Emailer.DoesNotExist:
        return None


def scenario_progress_of(scenario: Scenario) -> Progress:
    live = scenario.status not in SETTLED
    # scenario_list() joins the Emailer, so a scenario whose run has no Send yet costs no query here.
    progress = selectors.scenario_progress(scenario=scenario) if _send_id(scenario) else None
    if progress is None:
        served = scenario.contacts_served
        return Progress(False, served, served, 0, 0, 100 if served else 0, 0, "", "", "", live)
    total = progress.total
    eta = progress.eta_seconds
    return Progress(
        started=True,
        total=total,
        sent=progress.sent,
        failed=progress.failed,
        queued=progress.queued,
        percent=min(100, round(100 * progress.sent / total)) if total else 0,
        failed_percent=min(100, round(100 * progress.failed / total)) if total else 0,
        rate=f"{progress.rate_per_s:.1f} emails/s" if progress.rate_per_s else "",
        eta=_duration(eta) if eta and scenario.status == S.SENDING else "",
        reason=progress.reason,
        live=live,
    )


def send_now_confirmation(*, scenario: Scenario, audience_size: int) -> str:
    """What "Send now" asks before it sends: to how many, because nothing can be taken back once it starts."""
    recipients = f"{audience_size} recipient{'' if audience_size == 1 else 's'}"
    return f"Send “{subject_label(scenario.subject)}” now to {recipients}? It starts at once and cannot be undone."


def _actions_for(
    scenario: Scenario, progress: Progress, *, audience_size: int | None = None
) -> list[tuple[str, str, str, str]]:
    """(action, label, button style, confirmation question or "") of the buttons the scenario's status allows."""
    actions: list[tuple[str, str, str, str]] = []
    if scenario.status in (S.DRAFT, S.SCHEDULED):
        confirm = send_now_confirmation(scenario=scenario, audience_size=audience_size or 0)
        actions.append(("send", "Send now", "btn-primary", confirm))
    if scenario.status == S.SENDING:
        actions.append(("pause", "Pause", "btn-warning", ""))
    if scenario.status == S.PAUSED:
        actions.append(("resume", "Resume", "btn-success", ""))
    if scenario.status in (S.SENT, S.FAILED, S.PAUSED) and progress.failed:
        actions.append(("retry", f"Retry {progress.failed} failed", "btn-outline-primary", ""))
    if scenario.status in (S.DRAFT, S.SCHEDULED, S.SENDING, S.PAUSED):
        cancel = "Cancel this scenario? Emails not yet sent will not be sent."
        actions.append(("cancel", "Cancel", "btn-outline-danger", cancel))
    return actions


def _progress_context(scenario: Scenario) -> dict[str, Any]:
    """Everything the state fragment shows (`_scenario_progress.html`), for the page and for each poll alike."""
    progress = scenario_progress_of(scenario)
    # Before the send starts, the number that matters is who it would go to now (and "Send now" says it).
    audience_size = selectors.campaign_audience_size(campaign=scenario.campaign) if scenario.is_editable else None
    return {
        "scenario": scenario,
        "progress": progress,
        "audience_size": audience_size,
        "actions": _actions_for(scenario, progress, audience_size=audience_size),
        "refusal": _edit_refusal(scenario),
        # A running send moves every second; a draft, a scheduled or a paused one changes rarely.
        "poll_seconds": 1 if scenario.status == S.SENDING else POLL_IDLE_SECONDS,
    }


def _edit_refusal(scenario: Scenario) -> str:
    """Why a scenario cannot be edited (the same words the service raises), or "" when it can."""
    if scenario.is_editable:
        return ""
    return (
        f"This scenario is {scenario.get_status_display().lower()}; only draft or scheduled scenarios can be "
        "edited. Pause, resume or cancel it instead."
    )


# --- campaigns --------------------------------------------------------------------------------------------


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    form = CampaignFilterForm(request.GET)
    page = _page(request, selectors.campaign_list(**_filters(form)))
    sizes = selectors.campaign_audience_sizes(campaigns=page)
    for campaign in page:
        campaign.audience = selectors.audience_label(campaign=campaign, batch_size=campaign.batch_size)
        campaign.audience_size = sizes[campaign.pk]
    context: dict[str, Any] = {"page": page, "form": form}
    if not request.GET:
        # Seed 004's overview: what goes out next, what is going out, what went out lately.
        context["show_overview"] = True
        context["upcoming"] = selectors.scenario_list(status=S.SCHEDULED).order_by("send_date", "send_time", "id")[:5]
        context["ongoing"] = selectors.scenario_list().filter(status__in=(S.SENDING, S.PAUSED))[:5]
        context["recent"] = selectors.scenario_list(status=S.SENT).order_by("-sent_at", "-id")[:5]
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
    campaign = _get_campaign(pk)
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
    campaign = _get_campaign(pk)
    scenarios = list(selectors.scenario_list(campaign_id=campaign.pk).order_by("send_date", "send_time", "id"))
    rows = [(scenario, scenario_progress_of(scenario)) for scenario in scenarios]
    imports = list(contact_selectors.import_job_list().filter(batch_id=campaign.batch_id)[:5])
    latest_errors = _error_lines(imports[0]) if imports and imports[0].errors else []
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


def _error_lines(job: ImportJob, limit: int = ERROR_LINES_SHOWN) -> list[tuple[str, str]]:
    """The first (line, reason) pairs of an import's error report: the per-line list seed 000's upload needs.

    Last resort read while contacts has no selector for it; the full report stays downloadable.
    """
    if not job.error_report:
        return []
    lines: list[tuple[str, str]] = []
    try:
        with job.error_report.open("rb") as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            next(reader, None)  # the header: line, reason, data
            for row in itertools.islice(reader, limit):
                if len(row) >= 2:
                    lines.append((row[0], row[1]))
    except OSError:
        return []  # the report file is gone (media cleaned): the counts on the page still tell the story
    return lines


@editor_required
@require_POST
def campaign_upload(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk)
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


# --- scenarios --------------------------------------------------------------------------------------------


@login_required
def scenario_list(request: HttpRequest) -> HttpResponse:
    form = ScenarioFilterForm(request.GET)
    filters = _filters(form)
    if "campaign" in filters:
        filters["campaign_id"] = filters.pop("campaign").pk
    page = _page(request, selectors.scenario_list(**filters))
    return render(request, "campaigns/scenario_list.html", {"page": page, "form": form})


@editor_required
def scenario_create(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk)
    send_date, send_time = selectors.scenario_suggested_send_at(campaign=campaign)
    form = ScenarioForm(request.POST or None, initial={"send_date": send_date, "send_time": send_time})
    send_now = SEND_NOW in request.POST
    if request.method == "POST" and form.is_valid():
        try:
            scenario = _scenario_create(campaign=campaign, data=form.cleaned_data, send_now=send_now, user=request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        except services.ScenarioStateError as exc:
            form.add_error(None, str(exc))
        else:
            status = scenario.get_status_display().lower()
            messages.success(request, f"Scenario “{subject_label(scenario.subject)}” {status}.")
            return redirect("campaigns:scenario-detail", pk=scenario.pk)
    return render(request, "campaigns/scenario_form.html", _scenario_form_context(form, campaign, None))


# The name of the form's second submit button: save the scenario and send it at once instead of at its time.
SEND_NOW = "send_now"


def _scenario_form_context(form: ScenarioForm, campaign: Campaign, scenario: Scenario | None) -> dict[str, Any]:
    size = selectors.campaign_audience_size(campaign=campaign)
    return {
        "form": form,
        "campaign": campaign,
        "scenario": scenario,
        "send_now": SEND_NOW,
        "send_now_confirm": f"Send this scenario now to {size} recipient{'' if size == 1 else 's'}? "
        "It starts at once and cannot be undone.",
    }


@transaction.atomic
def _scenario_create(*, campaign: Campaign, data: dict[str, Any], send_now: bool, user: Any) -> Scenario:
    """Create the scenario; with "Send now", create it as a draft and send it in the same transaction, so a send
    that is refused (a paused campaign) leaves no scenario behind. The form's date and time are then replaced by
    the moment it is sent."""
    if not send_now:
        return services.scenario_create(campaign=campaign, **data, user=user)
    fields = {**data, "draft": True}
    scenario = services.scenario_create(campaign=campaign, **fields, user=user)
    return services.scenario_send(scenario_id=scenario.pk, user=user)


@editor_required
def scenario_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = _get_scenario(pk)
    form = ScenarioForm(request.POST or None, initial=ScenarioForm.initial_for(scenario))
    refusal = _edit_refusal(scenario)
    send_now = SEND_NOW in request.POST
    if request.method == "POST" and not refusal and form.is_valid():
        data = dict(form.cleaned_data)
        draft = data.pop("draft")
        try:
            scenario = _scenario_update(scenario=scenario, data=data, draft=draft, send_now=send_now, user=request.user)
        except services.ScenarioStateError as exc:
            refusal = str(exc)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Scenario sent now." if send_now else "Scenario saved.")
            return redirect("campaigns:scenario-detail", pk=scenario.pk)
    context = {**_scenario_form_context(form, scenario.campaign, scenario), "refusal": refusal}
    return render(
        request, "campaigns/scenario_form.html", context, status=409 if refusal and request.method == "POST" else 200
    )


@transaction.atomic
def _scenario_update(*, scenario: Scenario, data: dict[str, Any], draft: bool, send_now: bool, user: Any) -> Scenario:
    """Save the edit; with "Send now", save it as a draft and send it, both or neither."""
    if not send_now:
        return services.scenario_update(scenario=scenario, draft=draft, **data)
    services.scenario_update(scenario=scenario, draft=True, **data)
    return services.scenario_send(scenario_id=scenario.pk, user=user)


@login_required
def scenario_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = _get_scenario(pk)
    context = _progress_context(scenario)
    if scenario.campaign.channel == Campaign.Channel.EMAIL:
        context["test_form"] = TestSendForm(initial={"to": getattr(request.user, "email", "")})
    return render(request, "campaigns/scenario_detail.html", context)


@editor_required
@require_POST
def scenario_test_send(request: HttpRequest, pk: int) -> HttpResponse:
    """The scenario page's "send me a test": the template page's test send, with the scenario's subject and content."""
    scenario = _get_scenario(pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid address for the test email.")
        return redirect("campaigns:scenario-detail", pk=scenario.pk)
    contact_key = form.cleaned_data["contact"]
    contact = template_selectors.preview_contact(key=contact_key)
    if contact_key and contact is None:
        messages.error(request, f"No contact {contact_key!r}; the test was not sent.")
        return redirect("campaigns:scenario-detail", pk=scenario.pk)
    try:
        note = services.scenario_test_send(scenario=scenario, to=form.cleaned_data["to"], contact=contact)
    except services.TestSendError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Test sent to {form.cleaned_data['to']} ({note}).")
    return redirect("campaigns:scenario-detail", pk=scenario.pk)


@login_required
def scenario_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The live bar: polled every second by HTMX while the scenario can still change."""
    return render(request, "campaigns/_scenario_progress.html", _progress_context(_get_scenario(pk)))


@editor_required
@require_POST
def scenario_action(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = _get_scenario(pk)
    action = request.POST.get("action", "")
    if action not in ("send", *services.SCENARIO_ACTIONS):
        messages.error(request, f"Unknown action “{action}”.")
        return redirect("campaigns:scenario-detail", pk=scenario.pk)
    try:
        scenario = services.scenario_action(scenario_id=scenario.pk, action=action, user=request.user)
    except services.ScenarioStateError as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Scenario is now {scenario.get_status_display().lower()}.")
    return redirect("campaigns:scenario-detail", pk=scenario.pk)


# --- history and the quick wizard -------------------------------------------------------------------------


@login_required
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET)
    filters = _filters(form)
    if "created_by" in filters:
        filters["created_by_id"] = filters.pop("created_by").pk
    page = _page(request, selectors.campaign_history(**filters))
    for scenario in page:
        scenario.audience = selectors.audience_label(campaign=scenario.campaign, batch_size=scenario.batch_size)
    # Campaigns with no scenario yet are part of the history too (seed 004: "all created campaigns").
    empty = selectors.campaign_list(
        search=filters.get("search", ""), status=filters.get("status", ""), created_by_id=filters.get("created_by_id")
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
            scenario, job = _quick_campaign_create(form, user=request.user)
        except (ValidationError, services.ScenarioStateError) as exc:
            _quick_errors(form, exc)
        else:
            if job is not None and scenario.status == S.DRAFT:
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


@transaction.atomic
def _quick_campaign_create(form: QuickCampaignForm, *, user: Any) -> tuple[Scenario, ImportJob | None]:
    """A one-day campaign with one scenario, all or nothing.

    An uploaded audience small enough is imported within the request (see `campaign_contacts_import`); a file
    that cannot be imported undoes everything. A big file is imported by a worker, so "send now" would snapshot
    an empty batch: the scenario then stays a draft, to be sent once the import is done.
    """
    data = form.cleaned_data
    at = form.send_at_aware()
    zone_now = dj_timezone.now().astimezone(ZoneInfo(data["timezone"]))
    local = at or zone_now
    uploading = data["audience"] == QuickCampaignForm.AUDIENCE_UPLOAD
    campaign = services.campaign_create(
        name=data["name"],
        start_date=min(zone_now.date(), local.date()),
        end_date=max(zone_now.date(), local.date()),
        timezone=data["timezone"],
        segment=None if uploading else data["segment"],
        user=user,
    )
    scenario = services.scenario_create(
        campaign=campaign,
        subject=data["subject"],
        content=data["content"],
        template=data["template"],
        send_date=local.date(),
        send_time=local.time(),
        draft=True,
        user=user,
    )
    if at is not None:
        scenario = services.scenario_send(scenario_id=scenario.pk, at=at, user=user)
    job = None
    if uploading:
        job = services.campaign_contacts_import(campaign=campaign, file=data["file"], user=user)
        if job.status == ImportJob.Status.FAILED:
            raise ValidationError({"file": [job.message]})
    if at is None and (job is None or job.status == ImportJob.Status.DONE):
        scenario = services.scenario_send(scenario_id=scenario.pk, user=user)
    return scenario, job


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
