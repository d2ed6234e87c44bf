"""Enrollment of contacts in journeys (issue 16): the API trigger and the CONTACT_EVENT_HOOKS trigger. Part of
`automations.journeys`, which re-exports every name.

Re-entry (docs/journeys.md). A trigger while the contact is active in the journey is always dropped (the partial
unique index on active rows holds this under concurrency). After an enrollment has ended:
- `once`: never again, however it ended;
- `after_exit` ("again after leaving"): again when every earlier enrollment left by the journey's own path, the
  end of the steps, an exit step or the goal; one ended by a cancel (someone took the contact out on purpose), an
  unsubscribe or bounce, or a failure keeps the contact out;
- `never_while_active`: again whenever none is active, however the earlier ones ended (a cancel stops one run only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import CharField, Exists, F, Model, OuterRef, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone as dj_timezone

from automations.journey_definition import JourneyStateError
from automations.journey_models import Enrollment, Journey
from contacts.models import BatchMember, Contact, FunnelEvent

E = Enrollment.Status
J = Journey.Status


# --- enrollment ------------------------------------------------------------------------------------------------


# How an enrollment may end and still let the contact in again under `after_exit`.
LEFT_BY_ITS_PATH = (E.COMPLETED, E.EXITED_GOAL)


def blocking_enrollments(journey: Journey) -> QuerySet[Enrollment]:
    """The journey's enrollments that keep their contact from entering again, by the re-entry policy."""
    qs = Enrollment.objects.filter(journey=journey)
    if journey.reentry == Journey.Reentry.NEVER_WHILE_ACTIVE:
        return qs.filter(status=E.ACTIVE)
    if journey.reentry == Journey.Reentry.AFTER_EXIT:
        return qs.exclude(status__in=LEFT_BY_ITS_PATH)
    return qs


def _first_key(journey: Journey) -> str:
    return str(journey.steps.order_by("position", "id").values_list("key", flat=True).first() or "")


def _enroll_rows(journey: Journey, rows: Sequence[tuple[int, str]], *, now: dt.datetime) -> set[int]:
    """Enroll (contact_id, trigger_key) rows that the re-entry policy lets in; returns the contact ids enrolled.
    ON CONFLICT DO NOTHING on the two partial unique indexes settles races with another trigger."""
    first = _first_key(journey)
    enrolled: set[int] = set()
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        ids = {contact_id for contact_id, _ in chunk}
        subscribed = set(
            Contact.objects.filter(pk__in=ids, status=Contact.Status.SUBSCRIBED).values_list("id", flat=True)
        )
        blocked = blocking_enrollments(journey).filter(contact_id__in=ids)
        allowed = subscribed - set(blocked.values_list("contact_id", flat=True))
        objs: dict[int, Enrollment] = {}
        for contact_id, key in chunk:
            if contact_id in allowed and contact_id not in objs:
                objs[contact_id] = Enrollment(
                    journey=journey,
                    contact_id=contact_id,
                    step_key=first,
                    visit=1,
                    next_at=now,
                    entered_at=now,
                    trigger_key=key,
                )
        Enrollment.objects.bulk_create(list(objs.values()), ignore_conflicts=True, batch_size=1000)
        enrolled |= set(
            Enrollment.objects.filter(
                journey=journey, contact_id__in=list(objs), entered_at=now, status=E.ACTIVE
            ).values_list("contact_id", flat=True)
        )
    return enrolled


class TriggerRows(NamedTuple):
    """Rows that trigger a journey: the queryset, its column naming the contact, the trigger key's prefix (the key
    is the prefix and the row's id)."""

    rows: QuerySet[Any]
    contact: str
    key_prefix: str


def insert_select(model: type[Model], columns: list[str], queryset: QuerySet[Any]) -> int:
    """INSERT INTO model (columns) <the queryset's SELECT> ON CONFLICT DO NOTHING; returns the rows written."""
    sql, params = queryset.query.sql_with_params()
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({quoted}) {sql} ON CONFLICT DO NOTHING",
            params,
        )
        return int(cursor.rowcount or 0)


ENROLLMENT_COLUMNS = [
    "journey_id",
    "contact_id",
    "step_key",
    "visit",
    "step_ran",
    "next_at",
    "status",
    "reason",
    "trigger_key",
    "entered_at",
]


def enroll_from(journey: Journey, source: TriggerRows, *, now: dt.datetime) -> int:
    """Enroll the contacts of `source`'s rows, set-based: one INSERT ... SELECT of the rows whose contact is
    subscribed and whom the re-entry policy lets in (NOT EXISTS a blocking enrollment), in id order, ON CONFLICT DO
    NOTHING on the two partial unique indexes: a contact with two triggering rows (or already active, or enrolled
    meanwhile by another trigger) enrolls once, and a row delivered twice enrolls once. Returns the rows written."""
    status = "status" if source.rows.model is Contact else "contact__status"
    rows = (
        source.rows.filter(**{status: Contact.Status.SUBSCRIBED})
        .exclude(Exists(blocking_enrollments(journey).filter(contact_id=OuterRef(source.contact))))
        .order_by("pk")
        .values_list(
            Value(journey.pk),
            source.contact,
            Value(_first_key(journey)),
            Value(1),
            Value(False),
            Value(now),
            Value(E.ACTIVE),
            Value(""),
            Concat(Value(source.key_prefix), Cast(F("pk"), output_field=CharField())),
            Value(now),
        )
    )
    return insert_select(Enrollment, ENROLLMENT_COLUMNS, rows)


def journey_enroll(
    *, journey_id: int, contact_ids: Sequence[Any] = (), emails: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """The API trigger: one result per item (contact ids first, then emails): enrolled, skipped (with why), or
    error (unknown contact). The rest go in."""
    journey = Journey.objects.get(pk=journey_id)
    if journey.status not in (J.ACTIVE, J.PAUSED):
        raise JourneyStateError("Activate the journey before enrolling contacts.")
    now = dj_timezone.now()
    results: list[dict[str, Any]] = []
    wanted_ids = [int(i) for i in contact_ids if str(i).isdigit()]
    by_id = dict(Contact.objects.filter(pk__in=wanted_ids).values_list("id", "status"))
    lowered = [str(e).strip().lower() for e in emails]
    by_email = {
        email.lower(): (pk, status)
        for pk, email, status in Contact.objects.filter(email__in=[e for e in lowered if e]).values_list(
            "id", "email", "status"
        )
    }
    for raw in contact_ids:
        found = int(raw) in by_id if str(raw).isdigit() else False
        results.append(
            {"contact_id": int(raw) if found else raw, "email": None, "status": "pending" if found else "error"}
            | ({} if found else {"error": "No contact with this id."})
        )
    for raw, email in zip(emails, lowered, strict=True):
        pk, _ = by_email.get(email, (None, None))
        results.append(
            {"contact_id": pk, "email": raw, "status": "pending" if pk else "error"}
            | ({} if pk else {"error": "No contact with this email."})
        )
    pending = [r["contact_id"] for r in results if r["status"] == "pending"]
    with transaction.atomic():
        enrolled = _enroll_rows(journey, [(pk, "") for pk in pending], now=now)
    statuses = by_id | {pk: status for pk, status in by_email.values()}
    for result in results:
        if result["status"] != "pending":
            continue
        pk = result["contact_id"]
        if pk in enrolled:
            result["status"] = "enrolled"
            enrolled.discard(pk)  # a contact listed twice is enrolled once
        elif statuses.get(pk) != Contact.Status.SUBSCRIBED:
            result.update(status="skipped", error=f"The contact is {statuses.get(pk)}.")
        else:
            result.update(status="skipped", error=_reentry_reason(journey))
    return results


def _reentry_reason(journey: Journey) -> str:
    if journey.reentry == Journey.Reentry.ONCE:
        return "Already enrolled once (re-entry: once)."
    if journey.reentry == Journey.Reentry.AFTER_EXIT:
        return "Already in this journey, or an earlier enrollment was cancelled, unsubscribed or failed."
    return "Already in this journey."


# --- triggers ------------------------------------------------------------------------------------------------


def journeys_on_new_rows(*, after: Mapping[str, int]) -> int:
    """The CONTACT_EVENT_HOOKS hook (contacts.services calls it after commit): contacts, funnel events and batch
    members with an id above `after[...]` were just written by some path (form, API, CSV import). Every active
    journey they trigger enrolls them with one INSERT ... SELECT from that id range (no id reaches Python: a 1M-row
    import is one statement per journey); trigger keys make a row seen by two hooks enroll once."""
    journeys = list(Journey.objects.filter(status=J.ACTIVE).exclude(trigger__type__in=["api", "segment"]))
    if Journey.objects.filter(status=J.ACTIVE, trigger__type="segment").exists():
        from automations.journey_segment_trigger import journeys_segment_after_write  # it imports this module

        journeys_segment_after_write()
    now = dj_timezone.now()
    total = 0
    for journey in journeys:
        source = _trigger_rows(journey, after)
        if source is not None:
            with transaction.atomic():
                total += enroll_from(journey, source, now=now)
    return total


def _trigger_rows(journey: Journey, after: Mapping[str, int]) -> TriggerRows | None:
    """The new rows that trigger `journey`, as a queryset (not evaluated) with its contact and trigger key."""
    trigger = journey.trigger or {}
    kind = trigger.get("type")
    if kind == "contact_created" and "contact" in after:
        return TriggerRows(Contact.objects.filter(pk__gt=after["contact"]), "id", "contact:")
    if kind == "event" and "funnel_event" in after:
        events = FunnelEvent.objects.filter(pk__gt=after["funnel_event"], to_stage=trigger.get("to_stage"))
        return TriggerRows(events, "contact_id", "event:")
    if kind == "batch" and "batch_member" in after:
        members = BatchMember.objects.filter(pk__gt=after["batch_member"], batch_id=int(trigger.get("batch") or 0))
        return TriggerRows(members, "contact_id", "member:")
    return None
