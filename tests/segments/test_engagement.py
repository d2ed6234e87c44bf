"""Engagement conditions (seed 004 "past interactions"): opened / clicked in the last N days, never opened, bounced.

They are registered by delivery through SEGMENT_RULE_CONDITIONS (segments cannot import delivery) and must behave
like built-in conditions: compiled, described, validated by the API, offered by the builder, and on SQLite too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.test import Client
from django.utils import timezone

from accounts import roles
from contacts.models import Contact
from delivery.models import Delivery, Send
from segments.rules import compile_rules, describe_rules, rules_contact_ids
from tests.factories import user_with_role
from tests.segments.util import make_contact

pytestmark = pytest.mark.django_db


def one(spec: dict[str, Any], *, negate: bool = False) -> set[int]:
    node: dict[str, Any] = {"engagement": spec}
    if negate:
        node["negate"] = True
    return set(rules_contact_ids({"op": "and", "conditions": [node]}))


def deliver(
    contact: Contact,
    *,
    days_ago: int = 1,
    opened: int | None = None,
    clicked: int | None = None,
    status: str = Delivery.Status.SENT,
    using: str = "default",
) -> Delivery:
    now = timezone.now()
    send = Send.objects.using(using).create(subject="Hello", status=Send.Status.DONE)
    return Delivery.objects.using(using).create(
        send=send,
        contact=contact,
        email=contact.email,
        status=status,
        sent_at=now - dt.timedelta(days=days_ago),
        opened_at=None if opened is None else now - dt.timedelta(days=opened),
        clicked_at=None if clicked is None else now - dt.timedelta(days=clicked),
    )


def test_opened_within_days_selects_recent_openers_only() -> None:
    recent, old, none = make_contact(), make_contact(), make_contact()
    deliver(recent, days_ago=3, opened=2)
    deliver(old, days_ago=40, opened=39)
    deliver(none, days_ago=3)
    assert one({"kind": "opened", "within_days": 30}) == {recent.pk}


def test_opened_without_days_means_ever() -> None:
    recent, old, none = make_contact(), make_contact(), make_contact()
    deliver(recent, opened=1)
    deliver(old, days_ago=400, opened=399)
    deliver(none)
    assert one({"kind": "opened"}) == {recent.pk, old.pk}


def test_clicked_within_days_selects_recent_clickers_only() -> None:
    clicker, opener, old = make_contact(), make_contact(), make_contact()
    deliver(clicker, opened=2, clicked=2)
    deliver(opener, opened=2)
    deliver(old, days_ago=20, opened=20, clicked=20)
    assert one({"kind": "clicked", "within_days": 7}) == {clicker.pk}


def test_never_opened_needs_an_email_sent_and_no_open() -> None:
    silent, opener, never_emailed, failed_only = make_contact(), make_contact(), make_contact(), make_contact()
    deliver(silent)
    deliver(silent, days_ago=5)
    deliver(opener)
    deliver(opener, days_ago=5, opened=4)
    deliver(failed_only, status=Delivery.Status.FAILED)
    assert one({"kind": "never_opened"}) == {silent.pk}
    assert never_emailed.pk not in one({"kind": "never_opened"})


def test_never_opened_within_days_looks_at_that_window() -> None:
    lapsed, active = make_contact(), make_contact()
    deliver(lapsed, days_ago=100, opened=99)
    deliver(lapsed, days_ago=3)
    deliver(active, days_ago=3, opened=2)
    assert one({"kind": "never_opened", "within_days": 30}) == {lapsed.pk}


def test_bounced_matches_bounced_deliveries_and_bounced_status() -> None:
    by_delivery, by_status, fine = make_contact(), make_contact(status=Contact.Status.BOUNCED), make_contact()
    deliver(by_delivery, status=Delivery.Status.BOUNCED)
    deliver(fine)
    assert one({"kind": "bounced"}) == {by_delivery.pk, by_status.pk}


def test_bounced_within_days_reads_recent_bounces_only() -> None:
    recent, old = make_contact(), make_contact()
    deliver(recent, days_ago=2, status=Delivery.Status.BOUNCED)
    deliver(old, days_ago=60, status=Delivery.Status.BOUNCED)
    assert one({"kind": "bounced", "within_days": 30}) == {recent.pk}


def test_negated_opened_selects_everyone_else() -> None:
    opener, other = make_contact(), make_contact()
    deliver(opener, opened=1)
    assert one({"kind": "opened", "within_days": 30}, negate=True) == {other.pk}


def test_engagement_in_an_or_group_with_a_field_condition() -> None:
    opener, ann, other = make_contact(), make_contact(first_name="Ann"), make_contact()
    deliver(opener, opened=1)
    deliver(other)
    rules = {
        "op": "or",
        "conditions": [
            {"engagement": {"kind": "opened", "within_days": 30}},
            {"field": "contact.first_name", "operator": "eq", "value": "Ann"},
        ],
    }
    assert set(rules_contact_ids(rules)) == {opener.pk, ann.pk}


def test_unknown_engagement_kind_is_refused_naming_the_condition() -> None:
    from segments.errors import RuleError

    with pytest.raises(RuleError, match=r"conditions\[0\].*unknown engagement 'opend'"):
        compile_rules({"op": "and", "conditions": [{"engagement": {"kind": "opend"}}]})


def test_engagement_conditions_read_in_words() -> None:
    rules = {
        "op": "and",
        "conditions": [
            {"engagement": {"kind": "opened", "within_days": 30}},
            {"engagement": {"kind": "never_opened"}, "negate": True},
        ],
    }
    assert describe_rules(rules) == [
        "AND of:",
        "  opened any email in the last 30 days",
        "  NOT never opened an email",
    ]


def test_api_refuses_an_engagement_condition_with_bad_days() -> None:
    client = Client()
    client.force_login(user_with_role(roles.CAMPAIGN_MANAGER))
    body = {
        "name": "Openers",
        "type": "rules",
        "rules": {"op": "and", "conditions": [{"engagement": {"kind": "opened", "within_days": "soon"}}]},
    }
    response = client.post("/api/v1/segments", body, content_type="application/json")
    assert response.status_code == 400
    assert "not a whole number of days" in str(response.json())


def test_segment_form_offers_engagement_in_the_builder_vocabulary() -> None:
    client = Client()
    client.force_login(user_with_role(roles.CAMPAIGN_MANAGER))
    page = client.get("/segments/new/").content.decode()
    assert '"key": "engagement"' in page
    assert "never_opened" in page


# --- SQLite (the embedded default) ----------------------------------------------------------------------------

SQLITE_ALIAS = "engagement_sqlite"


@pytest.fixture
def sqlite_alias(tmp_path: Path) -> Iterator[str]:
    from contacts.models import FunnelEvent
    from templates_app.models import MessageTemplate

    databases = {
        "default": dict(connections["default"].settings_dict),
        SQLITE_ALIAS: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "embedded.sqlite3")},
    }
    settings_dict = connections.configure_settings(databases)[SQLITE_ALIAS]
    wrapper = DatabaseWrapper(settings_dict, SQLITE_ALIAS)
    connections[SQLITE_ALIAS] = wrapper
    try:
        with wrapper.schema_editor() as editor:
            for model in (Contact, FunnelEvent, MessageTemplate, Send, Delivery):
                editor.create_model(model)
        yield SQLITE_ALIAS
    finally:
        wrapper.close()
        del connections[SQLITE_ALIAS]


def test_engagement_conditions_select_the_same_contacts_on_sqlite(sqlite_alias: str) -> None:
    def seed(using: str) -> dict[str, int]:
        people = {name: Contact.objects.using(using).create(email=f"{name}@example.org") for name in "abcd"}
        deliver(people["a"], days_ago=3, opened=2, clicked=2, using=using)
        deliver(people["b"], days_ago=3, using=using)
        deliver(people["c"], days_ago=50, opened=49, using=using)
        deliver(people["d"], days_ago=2, status=Delivery.Status.BOUNCED, using=using)
        return {name: c.pk for name, c in people.items()}

    specs = [
        {"kind": "opened", "within_days": 30},
        {"kind": "opened"},
        {"kind": "clicked", "within_days": 7},
        {"kind": "never_opened"},
        {"kind": "bounced"},
        {"kind": "bounced", "within_days": 30},
    ]
    results: dict[str, list[set[str]]] = {}
    for using in ("default", sqlite_alias):
        ids = seed(using)
        names = {pk: name for name, pk in ids.items()}
        vendor = connections[using].vendor
        results[using] = [
            {
                names[pk]
                for pk in Contact.objects.using(using)
                .filter(compile_rules({"op": "and", "conditions": [{"engagement": spec}]}, vendor=vendor))
                .values_list("id", flat=True)
            }
            for spec in specs
        ]
    assert results["default"] == results[sqlite_alias]
    assert results["default"] == [{"a"}, {"a", "c"}, {"a"}, {"b", "d"}, {"d"}, {"d"}]
