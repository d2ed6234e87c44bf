"""Engagement conditions for rules segments (seed 004 "past interactions"), registered with segments through the
`SEGMENT_RULE_CONDITIONS` settings hook list (segments sits below delivery and cannot import it).

    {"engagement": {"kind": "opened", "within_days": 30}}   opened any email (in the last N days)
    {"engagement": {"kind": "clicked", "within_days": 7}}   clicked any email (in the last N days)
    {"engagement": {"kind": "never_opened"}}                was sent an email (in the last N days) and opened none
    {"engagement": {"kind": "bounced"}}                     an email to the contact bounced (in the last N days),
                                                            or, without N, the contact's status is bounced

`within_days` is optional everywhere (blank = any time). Opens and clicks are the FIRST HUMAN ones
(`Delivery.opened_at` / `clicked_at`; machine opens never set them), so a segment of openers is not filled by
Apple's privacy proxy or link scanners. Each condition is an `EXISTS` on `delivery_delivery` by contact_id, served
by the partial indexes of migration 0009 (rows with an open, with a click, bounced rows), so it reads only the
contacts who engaged. "Sent an email" has no index of its own (one more entry per recipient would slow every
snapshot), so `never_opened` reads the sent rows once as a hash semi-join. The same SQL runs on SQLite.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from contacts.models import Contact
from delivery.models import Delivery
from segments.errors import RuleError
from segments.rules.extensions import BuilderField, ConditionSql
from segments.rules.vocabulary import as_days

KINDS: dict[str, str] = {
    "opened": "opened any email",
    "clicked": "clicked any email",
    "never_opened": "never opened an email",
    "bounced": "bounced",
}

# Rows that count as "an email was sent to the contact": it left Herald (a bounce or complaint was sent too).
RECEIVED = (Delivery.Status.SENT, Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED)


def _rows(rows: QuerySet) -> ConditionSql:
    return ConditionSql(Q(Exists(rows.filter(contact_id=OuterRef("pk")))), rows.order_by().values("contact_id"))


@dataclass(frozen=True)
class EngagementCondition:
    key: str = "engagement"
    label: str = "Engagement"
    fields: tuple[BuilderField, ...] = (
        BuilderField(name="kind", kind="choice", choices=tuple(KINDS.items())),
        BuilderField(name="within_days", kind="days", label="in the last", suffix="days", placeholder="any"),
    )

    def default(self) -> dict[str, Any]:
        return {"kind": "opened", "within_days": 30}

    def _parse(self, spec: Any, path: str) -> tuple[str, int | None]:
        if not isinstance(spec, dict):
            raise RuleError(
                f"{path}: an engagement condition is an object like {{'kind': 'opened', 'within_days': 30}}."
            )
        kind = spec.get("kind")
        if kind not in KINDS:
            raise RuleError(f"{path}: unknown engagement {kind!r} (use one of: {', '.join(KINDS)}).")
        days = spec.get("within_days")
        return kind, None if days in (None, "") else as_days(days, path)

    def compile(self, spec: Any, *, path: str, vendor: str) -> ConditionSql:
        kind, days = self._parse(spec, path)
        since = None if days is None else timezone.now() - dt.timedelta(days=days)
        if kind in ("opened", "clicked"):
            column = "opened_at" if kind == "opened" else "clicked_at"
            lookup = {f"{column}__gte": since} if since is not None else {f"{column}__isnull": False}
            return _rows(Delivery.objects.filter(**lookup))
        if kind == "bounced":
            bounced = Delivery.objects.filter(status=Delivery.Status.BOUNCED)
            if since is not None:
                return _rows(bounced.filter(sent_at__gte=since))
            # A hard bounce suppresses the contact (contacts.services.contact_suppress): its status says so even
            # when the delivery rows are gone (a send deleted since); an OR over two tables is a UNION of ids.
            by_status = Contact.objects.filter(status=Contact.Status.BOUNCED).order_by().values("id")
            return ConditionSql(Q(pk__in=by_status.union(bounced.order_by().values("contact_id"))), None)
        received = Delivery.objects.filter(status__in=RECEIVED)
        opened = Delivery.objects.filter(opened_at__isnull=False)
        if since is not None:
            received = received.filter(sent_at__gte=since)
            opened = opened.filter(opened_at__gte=since)
        return ConditionSql(
            Q(pk__in=received.order_by().values("contact_id")) & ~Q(Exists(opened.filter(contact_id=OuterRef("pk")))),
            None,
        )

    def describe(self, spec: Any) -> str:
        if not isinstance(spec, dict):
            return "engagement (invalid)"
        text = KINDS.get(str(spec.get("kind")), f"engagement {spec.get('kind')!r}")
        if spec.get("within_days") not in (None, ""):
            verb = {"never_opened": "was sent an email and opened none", "bounced": "had an email bounce"}
            text = f"{verb.get(str(spec.get('kind')), text)} in the last {spec['within_days']} days"
        return text


engagement_condition = EngagementCondition()
