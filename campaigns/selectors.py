"""Reads of campaigns and scenarios: audiences, lists with filters, the history page, scheduling arithmetic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone as dj_timezone

from accounts import roles
from campaigns.models import Campaign, Emailer, Scenario
from contacts.models import BatchMember
from contacts.selectors import batch_contact_ids
from delivery import selectors as delivery_selectors
from delivery.selectors import SendProgress
from segments.errors import SegmentError
from segments.selectors import segment_count


def campaign_audience(*, campaign: Campaign) -> QuerySet[Any, int]:
    """The contact ids a scenario of this campaign goes to: its segment when set, else its batch (a subquery)."""
    if campaign.segment_id is not None:
        # Imported on use until segments/selectors.py (written in parallel) is committed.
        from segments.selectors import segment_contact_ids

        assert campaign.segment is not None
        return segment_contact_ids(segment=campaign.segment)
    return batch_contact_ids(batch_id=campaign.batch_id)


def campaign_audience_size(*, campaign: Campaign) -> int:
    """How many contacts a scenario of this campaign would go to now: its segment's count when it has one, else
    its batch's. A segment that cannot be evaluated (a broken SQL one) counts 0: sending it would fail the same."""
    if campaign.segment_id is None:
        return BatchMember.objects.filter(batch_id=campaign.batch_id).count()
    assert campaign.segment is not None
    try:
        return segment_count(segment=campaign.segment)
    except SegmentError:
        return 0


def campaign_audience_sizes(*, campaigns: Iterable[Campaign]) -> dict[int, int]:
    """`campaign_audience_size` of each campaign of a page: the `batch_size` annotation of `campaign_list` for batch
    audiences, one count per distinct segment for the others."""
    by_segment: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for campaign in campaigns:
        if campaign.segment_id is None and hasattr(campaign, "batch_size"):
            sizes[campaign.pk] = campaign.batch_size
        elif campaign.segment_id is None:
            sizes[campaign.pk] = campaign_audience_size(campaign=campaign)
        else:
            if campaign.segment_id not in by_segment:
                by_segment[campaign.segment_id] = campaign_audience_size(campaign=campaign)
            sizes[campaign.pk] = by_segment[campaign.segment_id]
    return sizes


def _batch_size(batch_ref: str = "batch_id") -> Subquery:
    """Members of the batch `batch_ref` points at (`batch_id` on campaigns, `campaign__batch_id` on scenarios).

    A correlated count per returned row: the page of rows is small, the batches may hold millions.
    """
    members = (
        BatchMember.objects.filter(batch_id=OuterRef(batch_ref))
        .order_by()
        .values("batch_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Subquery(members, output_field=IntegerField())


def _own_campaigns_only(user: Any) -> bool:
    """CAMPAIGN_OWNERSHIP_ONLY limits Campaign Managers (by their own role, not an API key's scope, so a read key
    sees no more than its owner) to the campaigns they created; Admins and Viewers see every campaign."""
    return bool(
        settings.CAMPAIGN_OWNERSHIP_ONLY and user is not None and roles.base_role(user) == roles.CAMPAIGN_MANAGER
    )


def campaigns_visible_to(user: Any) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.all()
    return campaigns.filter(created_by=user) if _own_campaigns_only(user) else campaigns


def campaign_list(
    *, search: str = "", status: str = "", created_by_id: int | None = None, user: Any = None
) -> QuerySet[Campaign]:
    qs = (
        campaigns_visible_to(user)
        .select_related("batch", "segment", "created_by")
        .annotate(
            batch_size=Coalesce(_batch_size(), 0),
            scenario_count=Count("scenarios", distinct=True),
        )
    )
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if status:
        qs = qs.filter(status=status)
    if created_by_id:
        qs = qs.filter(created_by_id=created_by_id)
    return qs.order_by("-id")


def campaign_get(*, campaign_id: int, user: Any = None) -> Campaign:
    return campaign_list(user=user).get(pk=campaign_id)


def scenario_list(
    *,
    campaign_id: int | None = None,
    status: str = "",
    search: str = "",
    send_date: dt.date | None = None,
    user: Any = None,
) -> QuerySet[Scenario]:
    qs = Scenario.objects.select_related("campaign", "template", "created_by", "emailer")
    if _own_campaigns_only(user):
        qs = qs.filter(campaign__created_by=user)
    if campaign_id:
        qs = qs.filter(campaign_id=campaign_id)
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(Q(subject__icontains=search) | Q(campaign__name__icontains=search))
    if send_date:
        qs = qs.filter(send_date=send_date)
    return qs.order_by("-send_date", "-send_time", "-id")


def campaign_history(
    *,
    search: str = "",
    status: str = "",
    channel: str = "",
    created_by_id: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    user: Any = None,
) -> QuerySet[Scenario]:
    """Seed 004's history: one row per scenario with its campaign, creator, channel, audience and schedule.

    `status` matches the scenario's status or, for campaigns, the campaign's.
    """
    qs = Scenario.objects.select_related(
        "campaign", "campaign__segment", "campaign__batch", "campaign__created_by", "created_by"
    ).annotate(batch_size=Coalesce(_batch_size("campaign__batch_id"), 0))
    if _own_campaigns_only(user):
        qs = qs.filter(campaign__created_by=user)
    if search:
        qs = qs.filter(Q(subject__icontains=search) | Q(campaign__name__icontains=search))
    if status:
        qs = qs.filter(Q(status=status) | Q(campaign__status=status))
    if channel:
        qs = qs.filter(campaign__channel=channel)
    if created_by_id:
        qs = qs.filter(Q(created_by_id=created_by_id) | Q(campaign__created_by_id=created_by_id))
    if date_from:
        qs = qs.filter(send_date__gte=date_from)
    if date_to:
        qs = qs.filter(send_date__lte=date_to)
    return qs.order_by("-send_date", "-send_time", "-id")


def audience_label(*, campaign: Campaign, batch_size: int | None = None) -> str:
    if campaign.segment_id is not None:
        return f"Segment: {campaign.segment}"
    size = batch_size if batch_size is not None else BatchMember.objects.filter(batch_id=campaign.batch_id).count()
    return f"Campaign batch ({size} contacts)"


# --- time -------------------------------------------------------------------------------------------------


def campaign_zone(*, campaign: Campaign) -> ZoneInfo:
    return ZoneInfo(campaign.timezone or settings.TIME_ZONE)


def campaign_today(*, campaign: Campaign, now: dt.datetime | None = None) -> dt.date:
    return (now or dj_timezone.now()).astimezone(campaign_zone(campaign=campaign)).date()


# A new scenario's suggested time: the next quarter hour at least this far ahead (time to finish the form).
SUGGESTED_LEAD = dt.timedelta(minutes=5)
SUGGESTED_STEP_MINUTES = 15
SUGGESTED_FIRST_DAY_TIME = dt.time(9, 0)


def scenario_suggested_send_at(*, campaign: Campaign, now: dt.datetime | None = None) -> tuple[dt.date, dt.time]:
    """The date and time a new scenario's form starts with: the next quarter hour in the campaign's zone that is
    still ahead, or 09:00 on the first day of a timeline that has not begun. Never one the form would refuse for
    having passed (unless the whole timeline is over, which the form then says)."""
    local = (now or dj_timezone.now()).astimezone(campaign_zone(campaign=campaign))
    if campaign.start_date > local.date():
        return campaign.start_date, SUGGESTED_FIRST_DAY_TIME
    ahead = (local + SUGGESTED_LEAD).replace(second=0, microsecond=0)
    ahead += dt.timedelta(minutes=-ahead.minute % SUGGESTED_STEP_MINUTES)
    return ahead.date(), ahead.time()


def scenario_scheduled_at(*, scenario: Scenario) -> dt.datetime:
    """The send date and time read in the campaign's time zone, as an aware instant."""
    zone = campaign_zone(campaign=scenario.campaign)
    return dt.datetime.combine(scenario.send_date, scenario.send_time, tzinfo=zone)


def daily_plan_time() -> dt.time:
    hours, _, minutes = str(settings.SCHEDULER_DAILY_AT).partition(":")
    return dt.time(int(hours), int(minutes or 0))


def plan_at(*, day: dt.date) -> dt.datetime:
    """When the daily plan for `day` is due: SCHEDULER_DAILY_AT on that day in TIME_ZONE."""
    return dt.datetime.combine(day, daily_plan_time(), tzinfo=ZoneInfo(settings.TIME_ZONE))


def next_plan_at(*, now: dt.datetime | None = None) -> dt.datetime:
    now = now or dj_timezone.now()
    today = now.astimezone(ZoneInfo(settings.TIME_ZONE)).date()
    at = plan_at(day=today)
    return at if at > now else plan_at(day=today + dt.timedelta(days=1))


def scenario_needs_plan_now(*, scenario: Scenario, now: dt.datetime | None = None) -> bool:
    """Whether a scheduled scenario must get its Emailer now instead of waiting for a daily plan.

    True when its send date is today (or earlier) in its campaign's zone, or when it is due before the next
    daily plan runs (a campaign zone ahead of TIME_ZONE, or a plan time later than the send time). Planning
    early is harmless: the plan is idempotent and the tick only claims rows whose time has come.
    """
    now = now or dj_timezone.now()
    if scenario.send_date <= campaign_today(campaign=scenario.campaign, now=now):
        return True
    return scenario_scheduled_at(scenario=scenario) < next_plan_at(now=now)


def scenarios_to_plan(*, day: dt.date) -> list[Scenario]:
    """Scheduled scenarios of active campaigns, inside their campaign's timeline, due from the previous daily
    plan (a run missed while beat was down still goes, late) up to the next one (which writes everything after).

    Scenarios are few per day (they are messages, not recipients), so the final filter runs in Python.
    """
    next_plan = plan_at(day=day + dt.timedelta(days=1))
    window_start = plan_at(day=day - dt.timedelta(days=1))
    # A campaign zone may differ from TIME_ZONE by up to a day, so look one day either side and decide by instant.
    candidates = (
        Scenario.objects.select_related("campaign")
        .filter(
            status=Scenario.Status.SCHEDULED,
            campaign__status=Campaign.Status.ACTIVE,
            send_date__range=(day - dt.timedelta(days=1), day + dt.timedelta(days=1)),
            campaign__start_date__lte=day + dt.timedelta(days=1),
            campaign__end_date__gte=day - dt.timedelta(days=1),
        )
        .exclude(emailer__dispatched_at__isnull=False)
        .order_by("send_date", "send_time", "id")
    )
    return [
        scenario
        for scenario in candidates
        if scenario.campaign.start_date <= scenario.send_date <= scenario.campaign.end_date
        and window_start <= scenario_scheduled_at(scenario=scenario) < next_plan
    ]


def emailers_due(*, now: dt.datetime | None = None) -> QuerySet[Emailer]:
    now = now or dj_timezone.now()
    return Emailer.objects.filter(active=True, dispatched_at__isnull=True, scheduled_at__lte=now)


def scenario_edit_refusal(*, scenario: Scenario) -> str:
    """Why a scenario cannot be edited, or "" when it can: the one wording of the service's refusal (409) and of
    the pages that show it before anyone tries."""
    if scenario.is_editable:
        return ""
    return (
        f"This scenario is {scenario.get_status_display().lower()}; only draft or scheduled scenarios can be "
        "edited. Pause, resume or cancel it instead."
    )


# --- progress ---------------------------------------------------------------------------------------------


def scenario_progress(*, scenario: Scenario) -> SendProgress | None:
    """The engine's `SendProgress` of the scenario's send (sent / total, rate, ETA), or None before it started.

    Read from the Send's counters, so it costs the same at any audience size.
    """
    send_id = Emailer.objects.filter(scenario_id=scenario.pk).values_list("send_id", flat=True).first()
    if send_id is None:
        return None
    return delivery_selectors.send_progress(send_id=send_id)
