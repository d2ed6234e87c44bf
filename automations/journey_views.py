"""Dashboard pages of journeys: the list, a journey's page (steps top to bottom with their counts, the report and
funnel, polled while active; its enrollments), its lifecycle buttons, the enroll of one contact (from the contact page) and the cancel of one enrollment (from
the journey's page and the contact page). The builder is `journey_builder`. Every page needs a login; every change
the Admin or Campaign Manager role (`editor_required`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from automations import journey_selectors as selectors
from automations import journeys
from automations.journey_forms import EnrollmentFilterForm, JourneyFilterForm
from automations.journey_models import Enrollment, Journey
from contacts.models import Contact

ACTIONS = ("activate", "pause", "archive")
PAGE_SIZE = 25
ENROLLMENTS_PAGE_SIZE = 25
# The counters of an active journey move with every tick; every 5 s is live enough and costs the database little
# (the fragment is a handful of GROUP BY queries).
POLL_SECONDS = 5


def _get_journey(pk: int) -> Journey:
    journey = Journey.objects.filter(pk=pk).first()
    if journey is None:
        raise Http404("No such journey.")
    return journey


@login_required
def journey_list(request: HttpRequest) -> HttpResponse:
    form = JourneyFilterForm(request.GET)
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    rows = selectors.journey_list(search=data.get("search") or "", status=data.get("status") or "")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "automations/journey_list.html", {"page": page, "form": form})


def _live_context(journey: Journey) -> dict[str, Any]:
    """What the polled fragment shows: the report, the steps with their counts, the funnel."""
    figures = selectors.journey_figures(journey=journey)
    rows, report = figures.rows, figures.report
    other: list[str] = []
    warnings: list[str] = []
    if journey.status == Journey.Status.DRAFT:
        check = journeys.journey_activation_check(journey=journey)
        by_step, other = selectors.step_errors(messages=check.errors, keys=[r.step.key for r in rows])
        for row in rows:
            row.errors = by_step.get(row.step.key, [])
        warnings = check.warnings
    funnel = selectors.journey_funnel(report=report, rows=rows, goal=bool(journey.goal))
    return {
        "journey": journey,
        "rows": rows,
        "report": report,
        "funnel": funnel,
        "funnel_height": 28 * len(funnel),
        "figures": figures,
        "cache_seconds": settings.JOURNEY_FIGURES_CACHE_SECONDS,
        "other_errors": other,
        "warnings": warnings,
        "live": journey.status == Journey.Status.ACTIVE,
        "poll_seconds": POLL_SECONDS,
    }


@login_required
def journey_detail(request: HttpRequest, pk: int) -> HttpResponse:
    journey = _get_journey(pk)
    form = EnrollmentFilterForm(request.GET)
    form.is_valid()
    status = getattr(form, "cleaned_data", {}).get("status") or ""
    context = _live_context(journey)
    counts = context["report"].counts
    # The status counts the report just read give the paginator its total: no second COUNT(*) over the journey.
    enrollments = selectors.CountedRows(
        selectors.journey_enrollments(journey=journey, status=status),
        counts.get(status, 0) if status else sum(counts.values()),
    )
    context.update(
        page=Paginator(enrollments, ENROLLMENTS_PAGE_SIZE).get_page(request.GET.get("page")),
        form=form,
        simulate_url=_simulate_url(journey),
    )
    return render(request, "automations/journey_detail.html", context)


def _simulate_url(journey: Journey) -> str:
    try:
        return reverse("automations:journey_simulate", args=[journey.pk])
    except NoReverseMatch:
        return ""


@login_required
def journey_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The counters, steps and funnel: polled by htmx while the journey is active."""
    return render(request, "automations/_journey_live.html", _live_context(_get_journey(pk)))


@require_POST
@editor_required
def journey_action(request: HttpRequest, pk: int) -> HttpResponse:
    journey = _get_journey(pk)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise Http404("Unknown action.")
    try:
        if action == "activate":
            check = journeys.journey_activate(journey_id=journey.pk)
            messages.success(request, "The journey is active.")
            for warning in check.warnings:
                messages.warning(request, warning)
        elif action == "pause":
            journeys.journey_pause(journey_id=journey.pk)
            messages.success(request, "Paused: every contact waits where it is until you activate it again.")
        else:
            cancelled = journeys.journey_archive(journey_id=journey.pk)
            messages.success(request, f"Archived; {cancelled} active enrollment(s) cancelled.")
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    except journeys.JourneyStateError as exc:
        messages.error(request, str(exc))
    return redirect("journeys:detail", pk=journey.pk)


@require_POST
@editor_required
def enrollment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    enrollment = Enrollment.objects.filter(pk=pk).first()
    if enrollment is None:
        raise Http404("No such enrollment.")
    if journeys.enrollment_cancel(enrollment_id=pk, reason=f"cancelled by {request.user}"):
        messages.success(request, f"{enrollment.contact} will get nothing more from “{enrollment.journey}”.")
    else:
        messages.info(request, "That enrollment had already ended.")
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):  # only a path on this site (the contact page)
        return redirect(back)
    return redirect("journeys:detail", pk=enrollment.journey_id)


@require_POST
@editor_required
def contact_enroll(request: HttpRequest, contact_pk: int) -> HttpResponse:
    """The contact page's "Enroll in a journey": the API's enroll for one contact, with its per-item answer."""
    if not Contact.objects.filter(pk=contact_pk).exists():
        raise Http404("No such contact.")
    raw = request.POST.get("journey", "")
    journey = Journey.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    back = reverse("contacts:detail", args=[contact_pk])
    if journey is None:
        messages.error(request, "Choose a journey.")
        return redirect(back)
    try:
        [result] = journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact_pk])
    except journeys.JourneyStateError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    if result["status"] == "enrolled":
        messages.success(request, f"Enrolled in “{journey}”: its first step runs at the next tick.")
    else:
        messages.error(request, f"Not enrolled in “{journey}”: {result.get('error', result['status'])}")
    return redirect(back)
