"""Dashboard pages of journeys: the list, a journey's steps top to bottom with counts, its lifecycle buttons, and
the Journeys section of the contact page. Every page needs a login; every change the Admin or Campaign Manager
role (`editor_required`)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from automations import journey_selectors as selectors
from automations import journeys
from automations.journey_models import Enrollment, Journey

ACTIONS = ("activate", "pause", "archive")


def _get_journey(pk: int) -> Journey:
    journey = Journey.objects.filter(pk=pk).first()
    if journey is None:
        raise Http404("No such journey.")
    return journey


@login_required
def journey_list(request: HttpRequest) -> HttpResponse:
    rows = Journey.objects.order_by("name", "id")
    return render(request, "automations/journey_list.html", {"journeys": rows})


@login_required
def journey_detail(request: HttpRequest, pk: int) -> HttpResponse:
    journey = _get_journey(pk)
    context = {
        "journey": journey,
        "rows": selectors.journey_step_rows(journey=journey),
        "status_counts": selectors.journey_status_counts(journey=journey),
        "recent": Enrollment.objects.filter(journey=journey).select_related("contact").order_by("-id")[:20],
        "check": journeys.journey_activation_check(journey=journey) if journey.status == Journey.Status.DRAFT else None,
    }
    return render(request, "automations/journey_detail.html", context)


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
