"""The journey simulator (issue 16): "what would happen to this contact", sending nothing. Part of
`automations.journeys`, which re-exports every name.

Not a second implementation of the engine: inside a transaction that is always rolled back, the contacts are
enrolled (or their current enrollment is used), and the engine's own `advance_claimed` is called at each moment a
step falls due, with `deliver=False` (a send step writes its history row and hands nothing to delivery). The history
rows the engine wrote are read back as the timeline, then everything is rolled back: no enrollment, no Send, no
on-commit task survives. Branches and the goal are judged on the data as it is now (no future event is invented);
each moment the engine wakes the contact is also where a goal reached or an unsubscribe would stop it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone as dj_timezone

from automations.journey_engine import advance_claimed
from automations.journey_enrollment import _first_key, _reentry_reason, blocking_enrollments
from automations.journey_models import Enrollment, EnrollmentStep, Journey, JourneySegmentMember, JourneyStep
from contacts.models import Contact
from segments.errors import SegmentError
from segments.models import Segment
from segments.selectors import segment_contact_ids

E = Enrollment.Status
HORIZON_DAYS = 400
MAX_WAKES = 200
CANDIDATES = 20


@dataclass
class SimulatedStep:
    at: dt.datetime
    step_key: str
    step_type: str
    outcome: str  # an EnrollmentStep.Outcome value, or "check" for a moment the goal and unsubscribes are checked
    outcome_label: str
    detail: str


@dataclass
class Simulation:
    contact_id: int
    email: str
    entered: bool
    reason: str = ""  # why the contact would not enter
    already_in: bool = False  # simulated from where the contact stands now
    timeline: list[SimulatedStep] = field(default_factory=list)
    end_status: str = ""
    end_label: str = ""
    end_detail: str = ""
    end_at: dt.datetime | None = None

    @property
    def emails(self) -> int:
        return sum(1 for s in self.timeline if s.outcome == EnrollmentStep.Outcome.SENT)


class _Rollback(Exception):
    pass


def _goal_text(journey: Journey) -> str:
    goal = journey.goal or {}
    if goal.get("type") == "event":
        return f"an event to stage “{goal.get('to_stage')}”"
    if goal.get("type") == "segment":
        name = Segment.objects.filter(pk=goal.get("segment") or 0).values_list("name", flat=True).first()
        return f"joining segment “{name or goal.get('segment')}”"
    return ""


def _check_detail(journey: Journey) -> str:
    goal = _goal_text(journey)
    stops = f"{goal} or an unsubscribe" if goal else "an unsubscribe"
    return f"stops here if {stops} happened before this moment"


def journey_simulate(
    *, journey_id: int, contact_ids: list[int], now: dt.datetime | None = None, horizon_days: int = HORIZON_DAYS
) -> list[Simulation]:
    """Each contact's steps from `now` (entering now, or from where it stands if already in the journey), their
    times, the branch taken and why, and where the goal or an unsubscribe would stop it. Sends nothing and leaves
    no row behind."""
    now = now or dj_timezone.now()
    journey = Journey.objects.get(pk=journey_id)
    out: list[Simulation] = []
    try:
        with transaction.atomic():
            out = _simulate(journey, contact_ids, now=now, until=now + dt.timedelta(days=horizon_days))
            raise _Rollback
    except _Rollback:
        pass
    return out


def _simulate(journey: Journey, contact_ids: list[int], *, now: dt.datetime, until: dt.datetime) -> list[Simulation]:
    contacts = Contact.objects.in_bulk(contact_ids)
    current = {
        e.contact_id: e
        for e in Enrollment.objects.select_for_update().filter(
            journey=journey, contact_id__in=contact_ids, status=E.ACTIVE
        )
    }
    blocked = set(blocking_enrollments(journey).filter(contact_id__in=contact_ids).values_list("contact_id", flat=True))
    first = _first_key(journey)
    sims: dict[int, Simulation] = {}
    enrollment_of: dict[int, int] = {}
    for contact_id in dict.fromkeys(contact_ids):
        contact = contacts.get(contact_id)
        if contact is None:
            continue
        sim = Simulation(contact_id=contact_id, email=contact.email, entered=True)
        sims[contact_id] = sim
        if contact_id in current:
            sim.already_in = True
            enrollment_of[current[contact_id].pk] = contact_id
        elif contact.status != Contact.Status.SUBSCRIBED:
            sim.entered, sim.reason = False, f"The contact is {contact.status}: it would not enter."
        elif contact_id in blocked:
            sim.entered, sim.reason = False, _reentry_reason(journey)
        else:
            e = Enrollment.objects.create(
                journey=journey, contact_id=contact_id, step_key=first, visit=1, next_at=now, entered_at=now
            )
            enrollment_of[e.pk] = contact_id
    wakes: dict[int, list[dt.datetime]] = defaultdict(list)
    journeys = {journey.pk: journey}
    for _ in range(MAX_WAKES):
        active = list(Enrollment.objects.filter(pk__in=enrollment_of, status=E.ACTIVE).order_by("next_at", "id"))
        if not active or active[0].next_at is None:
            break
        clock = max(active[0].next_at, now)
        if clock > until:
            break
        claimed = [e for e in active if e.next_at is not None and e.next_at <= clock]
        for e in claimed:
            wakes[e.pk].append(clock)
        advance_claimed(claimed, now=clock, journeys=journeys, deliver=False)
    _read_back(journey, sims, enrollment_of, wakes, now=now)
    return list(sims.values())


def _read_back(
    journey: Journey,
    sims: dict[int, Simulation],
    enrollment_of: dict[int, int],
    wakes: dict[int, list[dt.datetime]],
    *,
    now: dt.datetime,
) -> None:
    types = dict(JourneyStep.objects.filter(journey=journey).values_list("key", "type"))
    type_labels = dict(JourneyStep.Type.choices)
    outcome_labels = dict(EnrollmentStep.Outcome.choices)
    history: dict[int, list[EnrollmentStep]] = defaultdict(list)
    for row in EnrollmentStep.objects.filter(enrollment_id__in=enrollment_of, ran_at__gte=now).order_by(
        "ran_at", "visit", "id"
    ):
        history[row.enrollment_id].append(row)
    check = _check_detail(journey)
    for e in Enrollment.objects.filter(pk__in=enrollment_of):
        sim = sims[enrollment_of[e.pk]]
        rows = history[e.pk]
        for at in wakes[e.pk]:
            sim.timeline.append(SimulatedStep(at, "", "", "check", "Goal and unsubscribe checked", check))
            for row in (r for r in rows if r.ran_at == at):
                kind = types.get(row.step_key, "")
                label = outcome_labels.get(row.outcome, row.outcome)
                sim.timeline.append(
                    SimulatedStep(row.ran_at, row.step_key, type_labels.get(kind, kind), row.outcome, label, row.detail)
                )
        sim.end_status = e.status
        sim.end_label = str(E(e.status).label)
        if e.status == E.ACTIVE:
            sim.end_detail = f"still at step {e.step_key}"
            sim.end_at = e.next_at
        else:
            sim.end_detail = e.reason
            sim.end_at = e.finished_at


def simulation_candidates(*, journey: Journey, limit: int = CANDIDATES) -> list[int]:
    """The next contacts who would enter: for a segment trigger, the segment's subscribed members its next check
    would enroll; for other triggers (which wait for something to happen) the most recent subscribed contacts the
    re-entry policy lets in, as if the trigger fired for them now."""
    trigger = journey.trigger or {}
    contacts = Contact.objects.filter(status=Contact.Status.SUBSCRIBED).exclude(
        Exists(blocking_enrollments(journey).filter(contact_id=OuterRef("pk")))
    )
    if trigger.get("type") == "segment":
        segment = Segment.objects.filter(pk=int(trigger.get("segment") or 0)).first()
        if segment is None:
            return []
        try:
            contacts = contacts.filter(pk__in=segment_contact_ids(segment=segment)).exclude(
                Exists(JourneySegmentMember.objects.filter(journey=journey, contact_id=OuterRef("pk")))
            )
            return list(contacts.order_by("id").values_list("id", flat=True)[:limit])
        except SegmentError:
            return []
    return list(contacts.order_by("-id").values_list("id", flat=True)[:limit])


def simulation_contact(*, text: str) -> int | None:
    """The contact the simulator form names: an email (any case) or an id."""
    text = text.strip()
    if text.isdigit():
        return Contact.objects.filter(pk=int(text)).values_list("id", flat=True).first()
    return Contact.objects.filter(email__iexact=text).values_list("id", flat=True).first() if text else None
