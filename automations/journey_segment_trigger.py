"""The segment-entry trigger of journeys (issue 16): a contact enters a journey when it enters the journey's segment.
Part of `automations.journeys`, which re-exports every name.

"Enters" is a change, so each segment-triggered journey keeps the members it saw at its last check
(JourneySegmentMember). A check, set-based whatever the segment's size:
1. DELETE the remembered members no longer in the segment (they left: coming back later is a new entry);
2. INSERT ... SELECT the members not remembered yet (their ids above the table's highest id before the insert);
3. INSERT ... SELECT an enrollment for each row inserted in step 2 whose contact is subscribed and whom the re-entry
   policy lets in, ON CONFLICT DO NOTHING, with the trigger key `segment:<JourneySegmentMember id>` (a new id per
   entry), so a check run twice enrolls once.
The first check of a journey remembers the current members without enrolling them, unless the trigger says
`"existing": true` (then everyone already in the segment enters too).

When: after every write of contacts, events or batch members (the CONTACT_EVENT_HOOKS hook enqueues a check,
at most one per journey every JOURNEY_SEGMENT_DEBOUNCE_SECONDS), and on a schedule, every
JOURNEY_SEGMENT_CHECK_SECONDS, from the scheduler tick (`journeys_segment_tick`), which only enqueues: the check
itself runs in a worker, so a slow segment never makes the tick late. Both claim the journey with a conditional
update of `segment_checked_at`, so two ticks enqueue one check.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, Value
from django.utils import timezone as dj_timezone

from automations.journey_enrollment import TriggerRows, enroll_from, insert_select
from automations.journey_models import Journey, JourneySegmentMember
from contacts.models import Contact
from segments.errors import SegmentError
from segments.models import Segment
from segments.selectors import segment_contact_ids

logger = logging.getLogger("automations.journeys")

J = Journey.Status
DEFAULT_CHECK_SECONDS = 300
DEFAULT_DEBOUNCE_SECONDS = 10


def journey_segment_check(*, journey_id: int, now: dt.datetime | None = None) -> int:
    """Enroll the contacts that entered the journey's segment since its last check; returns how many enrolled."""
    now = now or dj_timezone.now()
    journey = Journey.objects.filter(pk=journey_id, status=J.ACTIVE, trigger__type="segment").first()
    if journey is None:
        return 0
    segment = Segment.objects.filter(pk=int(journey.trigger.get("segment") or 0)).first()
    if segment is None:
        logger.warning("journey %s: its trigger segment is gone", journey_id)
        return 0
    first_check = journey.segment_seeded_at is None
    try:
        with transaction.atomic():
            members = segment_contact_ids(segment=segment)
            JourneySegmentMember.objects.filter(journey=journey).exclude(contact_id__in=members).delete()
            new_members = (
                Contact.objects.filter(pk__in=members)
                .exclude(Exists(JourneySegmentMember.objects.filter(journey=journey, contact_id=OuterRef("pk"))))
                .order_by()
                .values_list(Value(journey.pk), "id", Value(now))
            )
            # The rows this check inserts are those above the highest id now (ids come from a sequence).
            mark = JourneySegmentMember.objects.aggregate(m=Max("id"))["m"] or 0
            insert_select(JourneySegmentMember, ["journey_id", "contact_id", "seen_at"], new_members)
            if first_check:
                Journey.objects.filter(pk=journey.pk).update(segment_seeded_at=now)
                if not journey.trigger.get("existing"):
                    return 0
            return _enroll_entrants(journey, above=mark, now=now)
    except SegmentError:
        logger.exception("journey %s: its trigger segment cannot be evaluated", journey_id)
        return 0


def _enroll_entrants(journey: Journey, *, above: int, now: dt.datetime) -> int:
    entrants = JourneySegmentMember.objects.filter(journey=journey, id__gt=above)
    return enroll_from(journey, TriggerRows(entrants, "contact_id", "segment:"), now=now)


def _due(now: dt.datetime, older_than: float) -> Q:
    cutoff = now - dt.timedelta(seconds=older_than)
    return Q(segment_checked_at__isnull=True) | Q(segment_checked_at__lte=cutoff)


def _claim_checks(*, now: dt.datetime, older_than: float) -> list[int]:
    """Claim a segment check of each segment-triggered journey not checked for `older_than` seconds: a journey is
    claimed by exactly one caller (the conditional update), so two ticks enqueue one check."""
    due = _due(now, older_than)
    candidates = Journey.objects.filter(due, status=J.ACTIVE, trigger__type="segment").values_list("id", flat=True)
    return [pk for pk in candidates if Journey.objects.filter(due, pk=pk).update(segment_checked_at=now)]


def _enqueue(journey_ids: list[int]) -> None:
    from automations.tasks import journey_segment_check_task  # tasks import the services, not the other way

    for journey_id in journey_ids:
        journey_segment_check_task.delay(journey_id)


def journeys_segment_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The SCHEDULER_TICK_HOOKS hook: enqueue a check of every segment-triggered journey not checked for
    JOURNEY_SEGMENT_CHECK_SECONDS. One indexed read per tick when nothing is due."""
    now = now or dj_timezone.now()
    every = float(getattr(settings, "JOURNEY_SEGMENT_CHECK_SECONDS", DEFAULT_CHECK_SECONDS))
    claimed = _claim_checks(now=now, older_than=every)
    _enqueue(claimed)
    return {"journey_segment_checks": len(claimed)}


def journeys_segment_after_write() -> int:
    """After a write of contacts, events or batch members (journeys_on_new_rows): enqueue a check of every
    segment-triggered journey, at most one per JOURNEY_SEGMENT_DEBOUNCE_SECONDS each."""
    now = dj_timezone.now()
    every = float(getattr(settings, "JOURNEY_SEGMENT_DEBOUNCE_SECONDS", DEFAULT_DEBOUNCE_SECONDS))
    claimed = _claim_checks(now=now, older_than=every)
    _enqueue(claimed)
    return len(claimed)
