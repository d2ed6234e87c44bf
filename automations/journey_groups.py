"""The engine's set-based group path (issue 16: a million enrollments due in the same minute). Part of the engine
(`journey_engine.journeys_advance` calls it on PostgreSQL).

A claimed batch is split into groups: the enrollments of one journey standing on the same step in the same state.
Every member of a group takes the same path from there (a send, then the following step, ...), so the path is
decided ONCE in Python for the group, and written with a few statements whatever the group's size:

- the exits first, as set-based filters: contacts no longer subscribed, contacts who reached the goal since entry;
- the walk: a send, wait or exit step is the same for all; a branch splits the group into a yes and a no sub-group
  with one condition query; each final sub-group has one path (a list of step visits) and one end state;
- per final sub-group, ONE `INSERT ... SELECT` of its history (one row per step visit of the path and member,
  `e.visit + offset`, ON CONFLICT DO NOTHING), then ONE `UPDATE` of its enrollments to the end state;
- per (journey, send step) of the batch ONE delivery Send, created before the history and snapshotted after it from
  the history rows that INSERT wrote (`send_id`), exactly as the per-row walk does: a step visit claimed twice (a
  stale copy, a worker killed before its commit) is in one audience only.

The ids of a group travel as one array parameter (`'{1,2,...}'::bigint[]`): no model instance, no JSON row per
member. What a group cannot take is left to the per-row walk (`advance_claimed`): a journey resuming with
`skip_to_wait` whose step fell due during the pause, a contact resting on a step edited from a wait into something
else. The simulator always uses the per-row walk (it delivers nothing).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from automations.journey_definition import _zone
from automations.journey_models import Enrollment, EnrollmentStep, Journey, JourneyStep
from contacts.models import Contact, FunnelEvent
from segments.errors import SegmentError
from segments.models import Segment
from segments.rules import compile_rules
from segments.selectors import segment_contact_ids

S = JourneyStep.Type
E = Enrollment.Status
O = EnrollmentStep.Outcome  # noqa: E741

# What a claimed row carries: (id, journey_id, step_key, step_ran, whether it fell due during its journey's pause
# and the journey resumes with skip_to_wait: an annotation of the claim).
ClaimedRow = tuple[int, int, str, bool, bool]
CLAIM_FIELDS = ("id", "journey_id", "step_key", "step_ran", "fell_due_in_pause")


def _array(ids: list[int]) -> str:
    """The ids as one PostgreSQL array literal: a single parameter, joined in C, whatever the group's size."""
    return "{" + ",".join(map(str, ids)) + "}"


def _members(ids: list[int]) -> QuerySet[Enrollment]:
    return Enrollment.objects.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", [_array(ids)]))


@dataclass
class _Visit:
    """One step visit of a path: the history row each member gets (its visit is the member's own + offset)."""

    key: str
    offset: int
    outcome: str
    detail: str = ""
    send_key: str = ""  # a send step: the (journey, key) whose Send the row belongs to


@dataclass
class _End:
    """The state a final sub-group's enrollments are written back with."""

    key: str
    offset: int
    step_ran: bool = False
    next_at: dt.datetime | None = None
    status: str = E.ACTIVE
    reason: str = ""


@dataclass
class GroupWalk:
    now: dt.datetime
    journey: Journey
    steps: dict[str, JourneyStep]
    order: list[str]
    # (member ids, path, end) per final sub-group; the send steps reached, for one Send each.
    finals: list[tuple[list[int], list[_Visit], _End]] = field(default_factory=list)
    send_keys: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def after(self, step: JourneyStep) -> str:
        if step.next_key:
            return step.next_key
        index = self.order.index(step.key)
        return self.order[index + 1] if index + 1 < len(self.order) else ""

    def end(self, ids: list[int], path: list[_Visit], end: _End) -> None:
        self.finals.append((ids, path, end))
        if end.status != E.ACTIVE:
            self.counts[end.status] += len(ids)

    def walk(self, ids: list[int], key: str, offset: int, path: list[_Visit], hops: int) -> None:
        """Run the group `ids` from step `key` (visit + `offset`) until it rests on a wait or leaves."""
        while True:
            if hops >= _max_hops():
                self.end(ids, path, _End(key, offset, status=E.FAILED, reason="more than 50 steps without a wait"))
                return
            hops += 1
            step = self.steps.get(key)
            if step is None:
                self.end(ids, path, _End(key, offset, status=E.FAILED, reason=f"step {key!r} does not exist"))
                return
            if step.type == S.SEND:
                if step.template is None:
                    self.end(ids, path, _End(key, offset, status=E.FAILED, reason=f"step {key}: no template"))
                    return
                self.send_keys.add(key)
                path = [*path, _Visit(key, offset, O.SENT, send_key=key)]
            elif step.type in (S.WAIT, S.WAIT_UNTIL):
                zone = _zone(self.journey.timezone)
                if step.type == S.WAIT:
                    next_at = self.now + dt.timedelta(minutes=max(int(step.minutes or 0), 1))
                else:
                    from automations.journey_engine import next_time_of_day

                    next_at = next_time_of_day(
                        after=self.now, at=step.time or dt.time(0), weekdays=step.weekdays, zone=zone
                    )
                detail = f"until {next_at.astimezone(zone):%Y-%m-%d %H:%M %Z}"
                self.end(ids, [*path, _Visit(key, offset, O.WAITING, detail)], _End(key, offset, True, next_at=next_at))
                return
            elif step.type == S.BRANCH:
                from automations.journey_engine import condition_text

                try:
                    yes = _branch_yes(step, ids)
                except (SegmentError, Segment.DoesNotExist, ValueError) as exc:
                    reason = f"step {key}: the condition cannot be evaluated: {exc}"
                    self.end(ids, path, _End(key, offset, status=E.FAILED, reason=reason))
                    return
                why = condition_text(step)
                no = [i for i in ids if i not in yes]
                yes_ids = [i for i in ids if i in yes]
                for taken, sub in ((True, yes_ids), (False, no)):
                    if not sub:
                        continue
                    visit = _Visit(
                        key, offset, O.YES if taken else O.NO, f"{'meets' if taken else 'does not meet'}: {why}"
                    )
                    target = step.yes_key if taken else step.no_key
                    if target:
                        self.walk(sub, target, offset + 1, [*path, visit], hops)
                    else:
                        self.end(sub, [*path, visit], _End(key, offset, status=E.COMPLETED))
                return
            else:  # exit
                self.end(
                    ids,
                    [*path, _Visit(key, offset, O.EXITED)],
                    _End(key, offset, status=E.COMPLETED, reason=f"exit at {key}"),
                )
                return
            following = self.after(step)
            if not following:
                self.end(ids, path, _End(key, offset, status=E.COMPLETED))
                return
            key, offset = following, offset + 1


def _max_hops() -> int:
    from automations.journey_engine import MAX_HOPS

    return MAX_HOPS


def _branch_yes(step: JourneyStep, ids: list[int]) -> set[int]:
    """The members of the group whose contact meets the branch condition: one query for the group."""
    condition = step.condition or {}
    kind = condition.get("type")
    members = _members(ids)
    if kind == "event":
        since_entry = FunnelEvent.objects.filter(
            contact_id=OuterRef("contact_id"),
            to_stage=condition.get("to_stage"),
            created_at__gte=OuterRef("entered_at"),
        )
        members = members.filter(Exists(since_entry))
    else:
        contacts = Contact.objects.order_by()
        if kind == "segment":
            segment = Segment.objects.get(pk=int(condition.get("segment") or 0))
            contacts = contacts.filter(pk__in=segment_contact_ids(segment=segment))
        else:
            contacts = contacts.filter(compile_rules(condition.get("rules") if kind == "rules" else condition))
        members = members.filter(contact_id__in=contacts.values("id"))
    return set(members.values_list("id", flat=True))


def exits(journey: Journey, ids: list[int]) -> dict[int, tuple[str, str]]:
    """Members leaving before they walk: contacts no longer subscribed, contacts who reached the goal since entry.
    Set-based filters; the answer (usually a few) maps id -> (status, reason)."""
    from automations.journey_engine import logger

    leaving: dict[int, tuple[str, str]] = {
        pk: (E.EXITED_UNSUBSCRIBED, f"contact {status}")
        for pk, status in _members(ids)
        .exclude(contact__status=Contact.Status.SUBSCRIBED)
        .values_list("pk", "contact__status")
    }
    goal = journey.goal or {}
    reached: QuerySet[Enrollment] | None = None
    if goal.get("type") == "event":
        events = FunnelEvent.objects.filter(
            contact_id=OuterRef("contact_id"), to_stage=goal.get("to_stage"), created_at__gte=OuterRef("entered_at")
        )
        reached = _members(ids).filter(Exists(events))
    elif goal.get("type") == "segment":
        segment = Segment.objects.filter(pk=goal.get("segment") or 0).first()
        try:
            if segment is not None:
                reached = _members(ids).filter(contact_id__in=segment_contact_ids(segment=segment))
        except SegmentError:
            logger.exception("journey %s: its goal segment cannot be evaluated", journey.pk)
    if reached is not None:
        for pk in reached.filter(~Q(pk__in=list(leaving))).values_list("pk", flat=True):
            leaving[pk] = (E.EXITED_GOAL, "goal reached")
    return leaving


def write_path(ids: list[int], path: list[_Visit], now: dt.datetime, sends: dict[str, int]) -> None:
    """The history of a final sub-group: every member x every visit of the path, ONE INSERT ... SELECT."""
    if not path or not ids:
        return
    values = ", ".join(["(%s, %s::integer, %s, %s, %s::bigint)"] * len(path))
    params: list[Any] = []
    for v in path:
        params += [v.key, v.offset, v.outcome, v.detail[:300], sends.get(v.send_key) if v.send_key else None]
    table = EnrollmentStep._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (enrollment_id, step_key, visit, ran_at, outcome, detail, send_id)
                SELECT e.id, p.key, e.visit + p.off, %s, p.outcome, p.detail, p.send_id
                FROM {Enrollment._meta.db_table} e CROSS JOIN (VALUES {values}) AS p(key, off, outcome, detail, send_id)
                WHERE e.id = ANY(%s::bigint[])
                ON CONFLICT DO NOTHING""",
            [now, *params, _array(ids)],
        )


def write_end(ids: list[int], end: _End, now: dt.datetime) -> None:
    """A final sub-group's enrollments to their end state: ONE UPDATE (visit moves by the path's offset)."""
    if not ids:
        return
    finished = now if end.status != E.ACTIVE else None
    next_at = end.next_at if end.status == E.ACTIVE else None
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {Enrollment._meta.db_table} SET step_key = %s, visit = visit + %s, step_ran = %s, next_at = %s,
                       status = %s, reason = %s, finished_at = %s
                WHERE id = ANY(%s::bigint[])""",
            [end.key, end.offset, end.step_ran, next_at, end.status, end.reason[:300], finished, _array(ids)],
        )


def write_exits(leaving: dict[int, tuple[str, str]], now: dt.datetime) -> None:
    by_state: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, state in leaving.items():
        by_state[state].append(pk)
    for (status, reason), ids in by_state.items():
        _members(ids).update(status=status, reason=reason[:300], finished_at=now, next_at=None)


def _hand_send(journey: Journey, step: JourneyStep) -> int:
    from automations.journey_engine import _engine

    template = step.template
    assert template is not None  # the walk failed a send step without one
    send = _engine().send_create(
        label=f"Journey: {journey.name} · {step.key}"[:200],
        subject=template.subject,
        template_id=template.pk,
        track_opens=journey.track_opens,
        track_clicks=journey.track_clicks,
    )
    return int(send.pk)


def advance_groups(
    rows: list[ClaimedRow], *, now: dt.datetime, journeys: dict[int, Journey]
) -> tuple[dict[str, int], list[int]]:
    """Advance claimed rows group by group (see the module's docstring), in the caller's transaction. Returns the
    counts and the ids left to the per-row walk."""
    from automations.journey_engine import _engine

    steps: dict[int, dict[str, JourneyStep]] = defaultdict(dict)
    for step in JourneyStep.objects.filter(journey_id__in=journeys).select_related("template"):
        steps[step.journey_id][step.key] = step
    walks = {
        journey_id: GroupWalk(
            now=now,
            journey=journey,
            steps=steps[journey_id],
            order=[s.key for s in sorted(steps[journey_id].values(), key=lambda s: (s.position, s.pk))],
        )
        for journey_id, journey in journeys.items()
    }
    groups: dict[tuple[int, str, bool], list[int]] = defaultdict(list)
    rest: list[int] = []
    for pk, journey_id, key, ran, fell_due_in_pause in rows:
        current = steps[journey_id].get(key)
        resting = current is not None and current.type in (S.WAIT, S.WAIT_UNTIL)
        if (ran and not resting) or fell_due_in_pause:
            rest.append(pk)
        else:
            groups[(journey_id, key, ran)].append(pk)
    leaving: dict[int, tuple[str, str]] = {}
    for journey_id, walk in walks.items():
        mine = [pk for (j, _, _), ids in groups.items() if j == journey_id for pk in ids]
        if mine:
            leaving |= exits(walk.journey, mine)
    for (journey_id, key, ran), ids in groups.items():
        walk = walks[journey_id]
        ids = [pk for pk in ids if pk not in leaving] if leaving else ids
        if not ids:
            continue
        if not ran:
            walk.walk(ids, key, 0, [], 0)
        elif following := walk.after(walk.steps[key]):
            walk.walk(ids, following, 1, [], 0)
        else:  # the wait was the journey's last step
            walk.end(ids, [], _End(key, 0, status=E.COMPLETED))
    handed = 0
    counts: dict[str, int] = defaultdict(int)
    for status, _reason in leaving.values():
        counts[status] += 1
    for walk in walks.values():
        sends = {key: _hand_send(walk.journey, walk.steps[key]) for key in sorted(walk.send_keys)}
        for ids, path, _ in walk.finals:
            write_path(ids, path, now, sends)
        for send_id in sends.values():
            audience = EnrollmentStep.objects.filter(send_id=send_id).values_list("enrollment__contact_id", flat=True)
            handed += _engine().send_start(send_id=send_id, audience=audience)
        for ids, _, end in walk.finals:
            write_end(ids, end, now)
        for status, count in walk.counts.items():
            counts[status] += count
    write_exits(leaving, now)
    return {"claimed": len(rows), "handed": handed, **counts}, rest


def journeys_advance_groups(*, now: dt.datetime, limit: int) -> dict[str, int]:
    """PostgreSQL's `journeys_advance`: claim a batch as plain tuples (no model instances), advance it group by
    group, and walk row by row the few a group cannot take. Inside the caller's transaction."""
    from automations.journey_engine import _claim_query, advance_claimed

    # Whether a row fell due during its journey's pause (`_fell_due_in_pause` in the per-row walk) is asked of
    # PostgreSQL: loading two datetimes per row into Python was a fifth of a 20,000-row batch.
    fell_due_in_pause = ExpressionWrapper(
        Q(
            journey__resume_mode=Journey.ResumeMode.SKIP_TO_WAIT,
            journey__paused_at__isnull=False,
            journey__resumed_at__isnull=False,
            next_at__gte=F("journey__paused_at"),
            next_at__lte=F("journey__resumed_at"),
            entered_at__lte=F("journey__paused_at"),
        ),
        output_field=BooleanField(),
    )
    claim = _claim_query(now).annotate(fell_due_in_pause=fell_due_in_pause)
    rows = list(claim.values_list(*CLAIM_FIELDS)[:limit])
    if not rows:
        return {"claimed": 0}
    journeys = Journey.objects.in_bulk({row[1] for row in rows})
    result, rest = advance_groups(rows, now=now, journeys=journeys)
    if rest:  # already locked by this transaction
        walked = advance_claimed(list(Enrollment.objects.filter(pk__in=rest)), now=now, journeys=journeys)
        for name, count in walked.items():
            if name != "claimed":
                result[name] = result.get(name, 0) + count
    return result
