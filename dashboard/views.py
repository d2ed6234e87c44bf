"""The dashboard at `/` and the calendar. Views read through dashboard.selectors / dashboard.agenda and move a
scenario through campaigns.services.scenario_update, the service behind the scenario's edit form."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from campaigns import selectors as campaign_selectors
from campaigns import services as campaign_services
from dashboard import selectors
from dashboard.agenda import MONTH, WEEK, build_agenda
from dashboard.charts import LEGEND, trend_svg
from dashboard.forms import ScenarioMoveForm
from dashboard.period import METRIC_LABELS, period_overview
from dashboard.services import stats_days

POLL_LIVE_SECONDS = 2
POLL_IDLE_SECONDS = 15


def _sending_context(request: HttpRequest) -> dict[str, object]:
    rows = selectors.sending_now(user=request.user)
    return {"sending": rows, "poll_seconds": POLL_LIVE_SECONDS if rows else POLL_IDLE_SECONDS}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    overview = selectors.dashboard_overview(user=request.user)
    context = {
        "overview": overview,
        "trend": trend_svg(overview.totals.days),
        "legend": LEGEND,
        "days": len(overview.totals.days),
        "sending": overview.sending,
        "poll_seconds": POLL_LIVE_SECONDS if overview.sending else POLL_IDLE_SECONDS,
    }
    return render(request, "dashboard/index.html", context)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


@login_required
def period(request: HttpRequest) -> HttpResponse:
    """The sends behind the dashboard's "Last N days" totals (`?days=`, `?metric=` ranks by a figure)."""
    found = period_overview(
        user=request.user,
        days=_int(request.GET.get("days"), stats_days()),
        metric=request.GET.get("metric", ""),
        page=request.GET.get("page"),
    )
    return render(
        request, "dashboard/period.html", {"period": found, "metric_label": METRIC_LABELS.get(found.metric, "")}
    )


@login_required
def sending(request: HttpRequest) -> HttpResponse:
    """The "Sending now" card, polled by htmx (every 2 s while something sends, every 15 s otherwise)."""
    return render(request, "dashboard/_sending.html", _sending_context(request))


def _anchor(value: str | None) -> dt.date:
    try:
        parsed = parse_date(value or "")
    except ValueError:
        parsed = None
    return parsed or timezone.localdate()


def _calendar_context(request: HttpRequest, view: str, anchor: dt.date) -> dict[str, object]:
    agenda = build_agenda(user=request.user, view=view, anchor=anchor)
    return {
        "agenda": agenda,
        "move_form": ScenarioMoveForm(),
        "weekdays": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    }


@login_required
def calendar(request: HttpRequest) -> HttpResponse:
    view = WEEK if request.GET.get("view") == WEEK else MONTH
    return render(
        request, "dashboard/calendar.html", _calendar_context(request, view, _anchor(request.GET.get("date")))
    )


@editor_required
@require_POST
def scenario_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a draft or scheduled scenario to another day (same time), with the edit form's rules: a scenario past
    `scheduled` is refused with the edit page's words, a day outside the campaign's timeline or already passed
    with the form's message. htmx (drag and drop) gets the grid back with the message; a plain form a redirect."""
    scenario = campaign_selectors.scenario_list(user=request.user).filter(pk=pk).first()
    if scenario is None:
        raise Http404("No such scenario.")
    view = WEEK if request.POST.get("view") == WEEK else MONTH
    form = ScenarioMoveForm(request.POST)
    ok, message = False, ""
    if not form.is_valid():
        message = "Pick a valid day (YYYY-MM-DD)."
    else:
        day = form.cleaned_data["send_date"]
        try:
            campaign_services.scenario_update(scenario=scenario, send_date=day)
        except campaign_services.ScenarioStateError as exc:
            message = str(exc)
        except ValidationError as exc:
            message = " ".join(exc.messages)
        else:
            ok, message = True, f"“{scenario.subject}” moved to {day:%a %d %b %Y} at {scenario.send_time:%H:%M}."
    anchor = _anchor(request.POST.get("date"))
    if request.headers.get("HX-Request"):
        context = {**_calendar_context(request, view, anchor), "notice": message, "notice_ok": ok}
        return render(request, "dashboard/_calendar_grid.html", context)
    (messages.success if ok else messages.error)(request, message)
    return redirect(f"{reverse('dashboard:calendar')}?{urlencode({'view': view, 'date': anchor.isoformat()})}")
