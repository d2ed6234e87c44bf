"""Dashboard pages of automations (seed 003 §5): search & results, detail, create / edit with the cron builder.

Every page needs a login and is readable by every role; every change needs the Admin or Campaign Manager role
(`editor_required`). The rules live in `automations.services`; their messages are shown as they are.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from automations import cron, selectors, services
from automations.forms import AutomationFilterForm, AutomationForm, apply_service_errors, builder_data
from automations.models import Automation, AutomationRun
from delivery.selectors import duration_text

PAGE_SIZE = 25
RUNS_PAGE_SIZE = 20
# A running send moves every second, as on a scenario's page; a settled run is not polled at all.
RUN_POLL_SECONDS = 1
ACTIONS = ("pause", "resume", "run", "delete")


def _get_automation(pk: int) -> Automation:
    try:
        return selectors.automation_get(automation_id=pk)
    except Automation.DoesNotExist:
        raise Http404("No such automation.") from None


def _filters(form: AutomationFilterForm) -> dict[str, Any]:
    """Cleaned GET filters; a malformed filter is dropped (a list page never answers 400)."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    return {
        "search": data.get("search") or "",
        "status": data.get("status") or "",
        "segment_id": data["segment"].pk if data.get("segment") else None,
        "template_id": data["template"].pk if data.get("template") else None,
    }


@login_required
def automation_list(request: HttpRequest) -> HttpResponse:
    form = AutomationFilterForm(request.GET)
    page = Paginator(selectors.automation_list(**_filters(form)), PAGE_SIZE).get_page(request.GET.get("page"))
    for automation in page:
        automation.schedule_text = selectors.automation_schedule(automation=automation).text  # type: ignore[attr-defined]
    return render(request, "automations/list.html", {"page": page, "form": form})


def _get_run(pk: int, run_pk: int) -> AutomationRun:
    try:
        return selectors.automation_run_get(automation_id=pk, run_id=run_pk)
    except AutomationRun.DoesNotExist:
        raise Http404("No such run.") from None


def _run_context(run: AutomationRun) -> dict[str, Any]:
    """What the run's progress fragment shows, for the page and for each poll alike."""
    progress = selectors.automation_run_progress(run=run)
    return {
        "automation": run.automation,
        "run": run,
        "progress": progress,
        "rate": f"{progress.rate_per_s:.1f} emails/s" if progress.rate_per_s else "",
        "eta": duration_text(progress.eta_seconds) if progress.eta_seconds else "",
        "poll_seconds": RUN_POLL_SECONDS,
    }


@login_required
def automation_run_detail(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    return render(request, "automations/run_detail.html", _run_context(_get_run(pk, run_pk)))


@login_required
def automation_run_progress(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    """The run's progress fragment, polled by htmx every RUN_POLL_SECONDS while the run is sending."""
    return render(request, "automations/_run_progress.html", _run_context(_get_run(pk, run_pk)))


@login_required
def automation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    automation = _get_automation(pk)
    runs = Paginator(selectors.automation_runs(automation_id=automation.pk), RUNS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "automation": automation,
        "schedule": selectors.automation_schedule(automation=automation),
        "page": runs,
    }
    return render(request, "automations/detail.html", context)


def _schedule_context(form: AutomationForm, expression: str, tz: str) -> dict[str, Any]:
    preview = selectors.schedule_preview(expression=expression, tz=tz or "UTC")
    return {"form": form, "preview": preview, "custom": form["mode"].value() == cron.CUSTOM}


def _form_page(request: HttpRequest, form: AutomationForm, automation: Automation | None) -> HttpResponse:
    context = {"automation": automation} | _schedule_context(
        form, str(form["cron"].value() or ""), str(form["timezone"].value() or "")
    )
    return render(request, "automations/form.html", context)


@editor_required
def automation_create(request: HttpRequest) -> HttpResponse:
    form = AutomationForm(request.POST or None, initial=AutomationForm.initial_for(Automation(cron="0 9 * * 1-5")))
    if request.method == "POST" and form.is_valid():
        try:
            automation = services.automation_create(**form.service_kwargs(), user=request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Automation “{automation.name}” saved; it runs on its schedule.")
            return redirect("automations:detail", pk=automation.pk)
    return _form_page(request, form, None)


@editor_required
def automation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    automation = _get_automation(pk)
    form = AutomationForm(request.POST or None, initial=AutomationForm.initial_for(automation))
    if request.method == "POST" and form.is_valid():
        wanted = form.service_kwargs()
        changes = {name: value for name, value in wanted.items() if getattr(automation, name) != value}
        try:
            if changes:
                services.automation_update(automation=automation, **changes)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Automation saved." if changes else "Nothing changed.")
            return redirect("automations:detail", pk=automation.pk)
    return _form_page(request, form, automation)


@login_required
@require_POST
def cron_preview(request: HttpRequest) -> HttpResponse:
    """The schedule part of the form, re-rendered as the user edits one side (htmx): the other side follows,
    with the words, the next runs and the field error."""
    source = request.POST.get("source", "builder")
    data, expression = builder_data(request.POST, source="expression" if source == "expression" else "builder")
    form = AutomationForm(data)
    return render(request, "automations/_schedule.html", _schedule_context(form, expression, data.get("timezone", "")))


@editor_required
@require_POST
def automation_action(request: HttpRequest, pk: int) -> HttpResponse:
    automation = _get_automation(pk)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        messages.error(request, "Unknown action.")
        return redirect("automations:detail", pk=automation.pk)
    try:
        if action == "pause":
            services.automation_pause(automation_id=automation.pk, reason=f"Paused by {request.user}")
            messages.success(request, "Paused: it will not run until resumed.")
        elif action == "resume":
            services.automation_resume(automation_id=automation.pk)
            messages.success(request, "Resumed: it runs on its schedule again.")
        elif action == "run":
            result = services.automation_run_now(automation_id=automation.pk)
            (messages.success if result.created else messages.warning)(request, result.summary)
        else:
            services.automation_delete(automation_id=automation.pk)
            messages.success(request, f"Automation “{automation.name}” deleted.")
            return redirect("automations:list")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("automations:detail", pk=automation.pk)
