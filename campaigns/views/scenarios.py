"""Dashboard pages of scenarios: list, create, edit, detail with its live state fragment, actions, test send.

Every page needs a login and is readable by every role; every POST needs the Admin or Campaign Manager role
(`editor_required`). The live numbers come from the engine's Send (`selectors.scenario_progress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from campaigns import selectors, services
from campaigns.display import subject_label
from campaigns.forms import ScenarioFilterForm, ScenarioForm, apply_service_errors
from campaigns.models import Campaign, Emailer, Scenario
from campaigns.views._common import _filters, _get_campaign, _get_scenario, _page
from delivery.selectors import duration_text
from templates_app import selectors as template_selectors
from templates_app.forms import TestSendForm

ScenarioStatus = Scenario.Status
# Statuses after which nothing moves on its own: the progress partial stops polling.
SETTLED = (ScenarioStatus.SENT, ScenarioStatus.CANCELLED, ScenarioStatus.FAILED)
# How often the state of a scenario that is not sending is re-read (it may start at its time, or be acted on
# from another tab); each poll of a not-yet-sent scenario counts its audience, so not every second.
POLL_IDLE_SECONDS = 5


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
    # The first page is out and the rest of the audience is still being written: `total` is the count so far.
    snapshotting: bool = False


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
        percent=min(100, round(100 * progress.sent / total)) if total and not progress.snapshotting else 0,
        failed_percent=min(100, round(100 * progress.failed / total)) if total and not progress.snapshotting else 0,
        rate=f"{progress.rate_per_s:.1f} emails/s" if progress.rate_per_s else "",
        eta=duration_text(eta) if eta and scenario.status == ScenarioStatus.SENDING else "",
        reason=progress.reason,
        live=live,
        snapshotting=progress.snapshotting,
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
    if scenario.status in (ScenarioStatus.DRAFT, ScenarioStatus.SCHEDULED):
        confirm = send_now_confirmation(scenario=scenario, audience_size=audience_size or 0)
        actions.append(("send", "Send now", "btn-primary", confirm))
    if scenario.status == ScenarioStatus.SENDING:
        actions.append(("pause", "Pause", "btn-warning", ""))
    if scenario.status == ScenarioStatus.PAUSED:
        actions.append(("resume", "Resume", "btn-success", ""))
    if scenario.status in (ScenarioStatus.SENT, ScenarioStatus.FAILED, ScenarioStatus.PAUSED) and progress.failed:
        actions.append(("retry", f"Retry {progress.failed} failed", "btn-outline-primary", ""))
    if scenario.status in (
        ScenarioStatus.DRAFT,
        ScenarioStatus.SCHEDULED,
        ScenarioStatus.SENDING,
        ScenarioStatus.PAUSED,
    ):
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
        "refusal": selectors.scenario_edit_refusal(scenario=scenario),
        # A running send moves every second; a draft, a scheduled or a paused one changes rarely.
        "poll_seconds": 1 if scenario.status == ScenarioStatus.SENDING else POLL_IDLE_SECONDS,
    }


# --- scenarios --------------------------------------------------------------------------------------------


@login_required
def scenario_list(request: HttpRequest) -> HttpResponse:
    form = ScenarioFilterForm(request.GET)
    filters = _filters(form)
    if "campaign" in filters:
        filters["campaign_id"] = filters.pop("campaign").pk
    page = _page(request, selectors.scenario_list(**filters, user=request.user))
    return render(request, "campaigns/scenario_list.html", {"page": page, "form": form})


@editor_required
def scenario_create(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(pk, request.user)
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
    scenario = _get_scenario(pk, request.user)
    form = ScenarioForm(request.POST or None, initial=ScenarioForm.initial_for(scenario))
    refusal = selectors.scenario_edit_refusal(scenario=scenario)
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
    scenario = _get_scenario(pk, request.user)
    context = _progress_context(scenario)
    if scenario.campaign.channel == Campaign.Channel.EMAIL:
        context["test_form"] = TestSendForm(initial={"to": getattr(request.user, "email", "")})
    return render(request, "campaigns/scenario_detail.html", context)


@editor_required
@require_POST
def scenario_test_send(request: HttpRequest, pk: int) -> HttpResponse:
    """The scenario page's "send me a test": the template page's test send, with the scenario's subject and content."""
    scenario = _get_scenario(pk, request.user)
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
    return render(request, "campaigns/_scenario_progress.html", _progress_context(_get_scenario(pk, request.user)))


@editor_required
@require_POST
def scenario_action(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = _get_scenario(pk, request.user)
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
