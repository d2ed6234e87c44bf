"""The journey engine (issue 16) the scheduler tick runs. Part of `automations.journeys`, which re-exports every
name.

The engine. `journeys_tick` (a SCHEDULER_TICK_HOOKS entry) claims due enrollments in bounded batches
(`next_at <= now`, FOR UPDATE SKIP LOCKED, the partial index on next_at of active rows), checks each claimed
contact's status and the journey's goal in bulk, then walks them in rounds: in a round the enrollments standing on
the same step are handled together (a branch is one query per group, not per contact), each moves to its next
step, and a contact rests at a wait (next_at set) or leaves (exit, end, goal, unsubscribe). A send step of a batch
becomes ONE delivery Send for all its contacts, so suppression, idempotency keys, the rate limiter, pause and
progress are the engine's own. On PostgreSQL a batch advances set-based, group by group
(`automations.journey_groups`, whose walk follows this one step for step); the per-row walk here takes the rows a
group cannot, SQLite, and the simulator (tests/journeys/test_simulator.py checks the engine agrees with it).

Exactly once per (enrollment, step visit). Every step a contact takes in a visit writes an EnrollmentStep row,
unique (enrollment, step_key, visit), with INSERT ... ON CONFLICT DO NOTHING; a send step's audience is read back
from the rows THIS insert wrote (`send_id` = the new Send), so an enrollment claimed twice for the same visit
(a retried tick, a stale copy, a bug) is in no second audience. The claim, the walk, the history and the Send's
snapshot commit in one transaction: a worker killed mid-batch rolls all of it back and the next tick redoes it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone as dj_timezone

from automations.journey_definition import _zone
from automations.journey_models import Enrollment, EnrollmentStep, Journey, JourneyStep
from contacts.models import Contact, FunnelEvent
from delivery import services as delivery_services
from segments.errors import SegmentError
from segments.models import Segment
from segments.rules import compile_rules
from segments.selectors import segment_contact_ids

# The logger keeps the name it had before the split of automations.journeys.
logger = logging.getLogger("automations.journeys")

S = JourneyStep.Type
E = Enrollment.Status
J = Journey.Status
O = EnrollmentStep.Outcome  # noqa: E741

# A contact takes at most this many steps in one tick; activation refuses loops without a wait, so only a long
# chain of sends and branches gets near it.
MAX_HOPS = 50
DEFAULT_BATCH = 500
DEFAULT_BUDGET_SECONDS = 0.5
DEFAULT_DRAIN_TASKS = 2
DEFAULT_DRAIN_SECONDS = 20.0
DEFAULT_DRAIN_BATCH = 20000


def _engine() -> Any:
    return delivery_services


# --- the engine ---------------------------------------------------------------------------------------------------


def next_time_of_day(*, after: dt.datetime, at: dt.time, weekdays: Sequence[int], zone: ZoneInfo) -> dt.datetime:
    """The first `at` (wall clock in `zone`) strictly after `after`, on one of `weekdays` (ISO; empty = any)."""
    local = after.astimezone(zone)
    for add in range(8):
        day = local.date() + dt.timedelta(days=add)
        if weekdays and day.isoweekday() not in weekdays:
            continue
        candidate = dt.datetime.combine(day, at, tzinfo=zone)
        if candidate > local:
            return candidate.astimezone(dt.UTC)
    raise ValueError("no matching weekday")  # unreachable with 1..7 validated


# An EnrollmentStep row to insert: (enrollment_id, step_key, visit, ran_at, outcome, detail, send_id).
_Row = tuple[int, str, int, dt.datetime, str, str, int | None]
_HISTORY_FIELDS = ["enrollment_id", "step_key", "visit", "ran_at", "outcome", "detail", "send_id"]


def _json(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON parameter: json.dumps runs in C, where binding arrays of 2,000 values quoted each one in
    Python (a third of a batch's time)."""
    return json.dumps(rows, default=lambda value: value.isoformat())


def _write_history(rows: list[_Row]) -> None:
    """INSERT the history rows, ON CONFLICT DO NOTHING (the unique (enrollment, step_key, visit) is what makes a
    step visit run once). PostgreSQL: one INSERT ... SELECT FROM json_to_recordset, no model instance per row (the
    ORM's bulk_create cost half of a 2,000-row batch); elsewhere bulk_create."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        EnrollmentStep.objects.bulk_create(
            [EnrollmentStep(**dict(zip(_HISTORY_FIELDS, row, strict=True))) for row in rows],
            ignore_conflicts=True,
            batch_size=1000,
        )
        return
    types = "enrollment_id bigint, step_key varchar, visit integer, ran_at timestamptz, outcome varchar, "
    types += "detail varchar, send_id bigint"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EnrollmentStep._meta.db_table} ({', '.join(_HISTORY_FIELDS)}) "
            f"SELECT * FROM json_to_recordset(%s::json) AS v({types}) ON CONFLICT DO NOTHING",
            [_json([dict(zip(_HISTORY_FIELDS, row, strict=True)) for row in rows])],
        )


@dataclass
class _Walk:
    now: dt.datetime
    steps: dict[int, dict[str, JourneyStep]]
    order: dict[int, list[str]]
    history: list[_Row] = field(default_factory=list)
    sends: dict[tuple[int, str], list[tuple[Enrollment, int]]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Enrollments whose step fell due while their journey was paused, in a journey that resumes with
    # `skip_to_wait`: their sends are recorded as skipped until they rest on a wait.
    skipping: set[int] = field(default_factory=set)

    def after(self, e: Enrollment, step: JourneyStep) -> str:
        if step.next_key:
            return step.next_key
        keys = self.order[e.journey_id]
        index = keys.index(step.key)
        return keys[index + 1] if index + 1 < len(keys) else ""

    def note(self, e: Enrollment, outcome: str, detail: str = "") -> None:
        self.history.append((e.pk, e.step_key, e.visit, self.now, outcome, detail[:300], None))

    def finish(self, e: Enrollment, status: str, reason: str = "") -> None:
        e.status, e.reason, e.finished_at, e.next_at = status, reason[:300], self.now, None
        self.counts[status] += 1

    def move(self, e: Enrollment, key: str) -> bool:
        """To step `key` (a new visit); False when that is the end of the journey."""
        if not key:
            self.finish(e, E.COMPLETED)
            return False
        e.step_key, e.visit, e.step_ran = key, e.visit + 1, False
        return True


def _exit_contacts(walk: _Walk, claimed: list[Enrollment], journeys: dict[int, Journey]) -> list[Enrollment]:
    """Unsubscribed, bounced or complained contacts leave; so do contacts that reached the goal since entry."""
    ids = [e.pk for e in claimed]
    statuses = dict(
        Enrollment.objects.filter(pk__in=ids)
        .exclude(contact__status=Contact.Status.SUBSCRIBED)
        .values_list("pk", "contact__status")
    )
    reached: set[int] = set()
    for journey_id, journey in journeys.items():
        goal = journey.goal or {}
        mine = [e.pk for e in claimed if e.journey_id == journey_id]
        if goal.get("type") == "event":
            reached |= set(
                Enrollment.objects.filter(pk__in=mine)
                .filter(
                    Exists(
                        FunnelEvent.objects.filter(
                            contact_id=OuterRef("contact_id"),
                            to_stage=goal.get("to_stage"),
                            created_at__gte=OuterRef("entered_at"),
                        )
                    )
                )
                .values_list("pk", flat=True)
            )
        elif goal.get("type") == "segment":
            segment = Segment.objects.filter(pk=goal.get("segment") or 0).first()
            try:
                if segment is not None:
                    members = segment_contact_ids(segment=segment)
                    reached |= set(
                        Enrollment.objects.filter(pk__in=mine, contact_id__in=members).values_list("pk", flat=True)
                    )
            except SegmentError:
                logger.exception("journey %s: its goal segment cannot be evaluated", journey_id)
    staying: list[Enrollment] = []
    for e in claimed:
        if e.pk in statuses:
            walk.finish(e, E.EXITED_UNSUBSCRIBED, f"contact {statuses[e.pk]}")
        elif e.pk in reached:
            walk.finish(e, E.EXITED_GOAL, "goal reached")
        else:
            staying.append(e)
    return staying


def _branch_yes(step: JourneyStep, group: list[Enrollment]) -> set[int]:
    """The enrollments of `group` whose contact meets the branch condition (one query for the group)."""
    condition = step.condition or {}
    kind = condition.get("type")
    contact_ids = [e.contact_id for e in group]
    if kind == "event":
        latest = dict(
            FunnelEvent.objects.filter(contact_id__in=contact_ids, to_stage=condition.get("to_stage"))
            .values("contact_id")
            .annotate(at=Max("created_at"))
            .values_list("contact_id", "at")
        )
        return {e.pk for e in group if e.contact_id in latest and latest[e.contact_id] >= e.entered_at}
    contacts = Contact.objects.filter(pk__in=contact_ids)
    if kind == "segment":
        segment = Segment.objects.get(pk=int(condition.get("segment") or 0))
        contacts = contacts.filter(pk__in=segment_contact_ids(segment=segment))
    else:
        contacts = contacts.filter(compile_rules(condition.get("rules") if kind == "rules" else condition))
    yes = set(contacts.values_list("id", flat=True))
    return {e.pk for e in group if e.contact_id in yes}


def condition_text(step: JourneyStep) -> str:
    """A branch condition in words, for the history and the simulator ("why this path")."""
    condition = step.condition or {}
    kind = condition.get("type")
    if kind == "event":
        return f"an event to stage “{condition.get('to_stage')}” since entry"
    if kind == "segment":
        segment = Segment.objects.filter(pk=condition.get("segment") or 0).values_list("name", flat=True).first()
        return f"member of segment “{segment or condition.get('segment')}”"
    return "the branch rules"


def _walk_round(walk: _Walk, pending: list[Enrollment]) -> list[Enrollment]:
    groups: dict[tuple[int, str], list[Enrollment]] = defaultdict(list)
    for e in pending:
        groups[(e.journey_id, e.step_key)].append(e)
    moved: list[Enrollment] = []
    for (journey_id, key), group in groups.items():
        step = walk.steps[journey_id].get(key)
        if step is None:
            for e in group:
                walk.finish(e, E.FAILED, f"step {key!r} does not exist")
            continue
        if step.type == S.SEND:
            for e in group:
                if e.pk in walk.skipping:
                    walk.note(e, O.SUPPRESSED, "skipped: due while the journey was paused")
                else:
                    walk.sends[(journey_id, key)].append((e, e.visit))
                if walk.move(e, walk.after(e, step)):
                    moved.append(e)
        elif step.type in (S.WAIT, S.WAIT_UNTIL):
            for e in group:
                if step.type == S.WAIT:
                    e.next_at = walk.now + dt.timedelta(minutes=max(int(step.minutes or 0), 1))
                else:
                    zone = _zone(step.journey.timezone)
                    e.next_at = next_time_of_day(
                        after=walk.now, at=step.time or dt.time(0), weekdays=step.weekdays, zone=zone
                    )
                e.step_ran = True
                walk.note(e, O.WAITING, f"until {e.next_at.astimezone(_zone(step.journey.timezone)):%Y-%m-%d %H:%M %Z}")
        elif step.type == S.BRANCH:
            try:
                yes = _branch_yes(step, group)
            except (SegmentError, Segment.DoesNotExist, ValueError) as exc:
                for e in group:
                    walk.finish(e, E.FAILED, f"step {key}: the condition cannot be evaluated: {exc}")
                continue
            why = condition_text(step)
            for e in group:
                taken = e.pk in yes
                walk.note(e, O.YES if taken else O.NO, f"{'meets' if taken else 'does not meet'}: {why}")
                if walk.move(e, step.yes_key if taken else step.no_key):
                    moved.append(e)
        else:  # exit
            for e in group:
                walk.note(e, O.EXITED)
                walk.finish(e, E.COMPLETED, f"exit at {key}")
    return moved


def _hand_sends(walk: _Walk, journeys: dict[int, Journey], *, deliver: bool = True) -> int:
    """One Send per (journey, step) of the batch; its audience is exactly the history rows this INSERT wrote.
    Without `deliver` (the simulator) the history rows are written with no Send and nothing is handed over."""
    handed = 0
    for (journey_id, key), items in walk.sends.items():
        step = walk.steps[journey_id][key]
        template = step.template
        if template is None:
            for e, _ in items:
                walk.finish(e, E.FAILED, f"step {key}: no template")
            continue
        if not deliver:
            detail = f"“{template.subject}”"[:300]
            _write_history([(e.pk, key, visit, walk.now, O.SENT, detail, None) for e, visit in items])
            handed += len(items)
            continue
        journey = journeys[journey_id]
        send = _engine().send_create(
            label=f"Journey: {journey.name} · {key}"[:200],
            subject=template.subject,
            template_id=template.pk,
            track_opens=journey.track_opens,
            track_clicks=journey.track_clicks,
        )
        _write_history([(e.pk, key, visit, walk.now, O.SENT, "", send.pk) for e, visit in items])
        audience = EnrollmentStep.objects.filter(send_id=send.pk).values_list("enrollment__contact_id", flat=True)
        handed += _engine().send_start(send_id=send.pk, audience=audience)
    return handed


def _claim_query(now: dt.datetime) -> Any:
    return (
        Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=E.ACTIVE, next_at__lte=now, journey__status=J.ACTIVE)
        .order_by("next_at")
    )


def _claim(now: dt.datetime, limit: int) -> list[Enrollment]:
    return list(_claim_query(now)[:limit])


def _fell_due_in_pause(e: Enrollment, journey: Journey) -> bool:
    """Whether this enrollment's step came due while its journey was paused (it entered before the pause)."""
    paused, resumed = journey.paused_at, journey.resumed_at
    if journey.resume_mode != Journey.ResumeMode.SKIP_TO_WAIT or paused is None or resumed is None:
        return False
    return e.next_at is not None and paused <= e.next_at <= resumed and e.entered_at <= paused


def advance_claimed(
    claimed: list[Enrollment], *, now: dt.datetime, journeys: dict[int, Journey], deliver: bool = True
) -> dict[str, int]:
    """Advance claimed enrollments as far as they go at `now`: exits, the walk, the sends, the history and the rows.
    The tick calls it on what it claimed; the simulator (journey_simulator) on its own rows with `deliver=False`,
    so what it shows is this code's answer, not a second implementation's."""
    journey_ids = {e.journey_id for e in claimed}
    steps: dict[int, dict[str, JourneyStep]] = defaultdict(dict)
    order: dict[int, list[str]] = defaultdict(list)
    for step in JourneyStep.objects.filter(journey_id__in=journey_ids).select_related("template", "journey"):
        steps[step.journey_id][step.key] = step
    for journey_id, by_key in steps.items():
        order[journey_id] = [s.key for s in sorted(by_key.values(), key=lambda s: (s.position, s.pk))]
    walk = _Walk(now=now, steps=steps, order=order)
    walk.skipping = {e.pk for e in claimed if _fell_due_in_pause(e, journeys[e.journey_id])}
    pending = []
    for e in _exit_contacts(walk, claimed, journeys):
        current = steps[e.journey_id].get(e.step_key)
        # A contact rests only on a wait it has started: now that the wait is over it moves on. Any other
        # step (a new enrollment's first step, a step edited in) runs now.
        if e.step_ran and current is not None and current.type in (S.WAIT, S.WAIT_UNTIL):
            if walk.move(e, walk.after(e, current)):
                pending.append(e)
        else:
            if e.step_ran:  # the step was edited from a wait into something else: run it in a new visit
                e.visit, e.step_ran = e.visit + 1, False
            pending.append(e)
    for _ in range(MAX_HOPS):
        if not pending:
            break
        pending = _walk_round(walk, pending)
    for e in pending:
        walk.finish(e, E.FAILED, f"more than {MAX_HOPS} steps without a wait")
    handed = _hand_sends(walk, journeys, deliver=deliver)
    _write_history(walk.history)
    _save(claimed)
    return {"claimed": len(claimed), "handed": handed, **walk.counts}


def journeys_advance(*, now: dt.datetime | None = None, limit: int = DEFAULT_BATCH) -> dict[str, int]:
    """Claim one batch of due enrollments and advance each as far as it goes now, in one transaction."""
    now = now or dj_timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            from automations.journey_groups import journeys_advance_groups

            return journeys_advance_groups(now=now, limit=limit)
        claimed = _claim(now, limit)
        if not claimed:
            return {"claimed": 0}
        journeys = Journey.objects.in_bulk({e.journey_id for e in claimed})
        return advance_claimed(claimed, now=now, journeys=journeys)


def _save(claimed: list[Enrollment]) -> None:
    """Write back the claimed rows' new state. PostgreSQL: one UPDATE ... FROM json_to_recordset, linear in the batch
    (Django's bulk_update writes a CASE WHEN per column and row, quadratic: 0.1 s at 500 rows, seconds at 5,000).
    Elsewhere (SQLite, the embedded mode): bulk_update."""
    fields = ["step_key", "visit", "step_ran", "next_at", "status", "reason", "finished_at"]
    if connection.vendor != "postgresql":
        Enrollment.objects.bulk_update(claimed, fields, batch_size=1000)
        return
    table = Enrollment._meta.db_table
    rows = [{"id": e.pk, **{f: getattr(e, f) for f in fields}} for e in claimed]
    types = "id bigint, step_key varchar, visit integer, step_ran boolean, next_at timestamptz, status varchar, "
    types += "reason varchar, finished_at timestamptz"
    sets = ", ".join(f"{f} = v.{f}" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS e SET {sets} FROM json_to_recordset(%s::json) AS v({types}) WHERE e.id = v.id",
            [_json(rows)],
        )


def journeys_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The SCHEDULER_TICK_HOOKS hook: advance due enrollments, batch after batch, within a time budget
    (JOURNEY_TICK_BUDGET_SECONDS) so the rest of the tick stays on time. When the budget runs out with work left
    (a million contacts due in the same minute), the backlog goes to JOURNEY_DRAIN_TASKS worker tasks
    (`journeys_drain_task`) that claim batches in parallel with SKIP LOCKED, off the tick's path."""
    now = now or dj_timezone.now()
    limit = int(getattr(settings, "JOURNEY_TICK_BATCH", DEFAULT_BATCH))
    budget = float(getattr(settings, "JOURNEY_TICK_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS))
    started = time.monotonic()
    claimed = handed = 0
    # While drain tasks hold the backlog, the tick takes one batch at most (so a drain stuck in a long queue does
    # not stop everything due) and leaves the rest to them: a tick that kept advancing full batches for its whole
    # budget, on a loaded machine, was what made it late.
    draining = _draining()
    while True:
        result = journeys_advance(now=now, limit=limit)
        claimed += result["claimed"]
        handed += result.get("handed", 0)
        if result["claimed"] < limit:
            break
        if draining or time.monotonic() - started > budget:
            _kick_drain()
            break
    return {"journey_enrollments": claimed, "journey_emails": handed}


def _draining() -> bool:
    slots = int(getattr(settings, "JOURNEY_DRAIN_TASKS", DEFAULT_DRAIN_TASKS))
    return bool(cache.get_many([_drain_key(slot) for slot in range(slots)]))


def _drain_key(slot: int) -> str:
    return f"herald:journeys:drain:{slot}"


def _kick_drain() -> int:
    """Enqueue a drain task for each free slot. A slot is held in the cache while its task runs (and expires on
    its own if the worker dies), so the tick, every second, does not pile up tasks behind a running drain."""
    from automations.tasks import journeys_drain_task  # tasks import this module

    slots = int(getattr(settings, "JOURNEY_DRAIN_TASKS", DEFAULT_DRAIN_TASKS))
    if connection.vendor != "postgresql":
        slots = 1  # SQLite (the embedded mode) has one writer: a second drain would only wait for the first
    seconds = float(getattr(settings, "JOURNEY_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))
    kicked = 0
    for slot in range(slots):
        if cache.add(_drain_key(slot), 1, timeout=int(seconds * 2) + 5):
            journeys_drain_task.delay(slot)
            kicked += 1
    return kicked


def journeys_drain(*, slot: int) -> int:
    """Advance due enrollments batch after batch for up to JOURNEY_DRAIN_SECONDS, then free the slot (the next tick
    kicks again if a backlog remains). Returns the enrollments advanced."""
    limit = int(getattr(settings, "JOURNEY_DRAIN_BATCH", DEFAULT_DRAIN_BATCH))
    seconds = float(getattr(settings, "JOURNEY_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))
    started = time.monotonic()
    total = 0
    try:
        while time.monotonic() - started < seconds:
            result = journeys_advance(limit=limit)
            total += result["claimed"]
            if result["claimed"] < limit:
                break
    finally:
        cache.delete(_drain_key(slot))
    return total
