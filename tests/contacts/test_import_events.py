from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from contacts.models import FunnelEvent, ImportJob
from tests.contacts.conftest import RunImport, make_contact

pytestmark = pytest.mark.django_db

EVENTS = (
    "email,funnel_type,from_stage,to_stage,created_at\n"
    "ann@example.com,sales,lead,applied,2024-03-01T10:00:00Z\n"
    "ann@example.com,sales,applied,enrolled,2024-03-05T10:00:00Z\n"
)


def test_events_file_inserts_funnel_events(run_import: RunImport) -> None:
    ann = make_contact(email="ann@example.com")
    job = run_import(EVENTS, kind="events")
    assert (job.status, job.created) == (ImportJob.Status.DONE, 2)
    latest = FunnelEvent.objects.filter(contact=ann).first()
    assert latest is not None
    assert (latest.to_stage, latest.created_at) == ("enrolled", dt.datetime(2024, 3, 5, 10, tzinfo=dt.UTC))


def test_events_reimport_inserts_nothing_twice(run_import: RunImport) -> None:
    make_contact(email="ann@example.com")
    run_import(EVENTS, kind="events")
    job = run_import(EVENTS, kind="events")
    assert (job.created, job.unchanged, FunnelEvent.objects.count()) == (0, 2, 2)


def test_events_for_unknown_contacts_are_row_errors(run_import: RunImport) -> None:
    job = run_import("email,to_stage\nnobody@example.com,applied\n", kind="events")
    assert (job.created, job.errors) == (0, 1)


def test_events_file_keeps_each_amount(run_import: RunImport) -> None:
    ann = make_contact(email="ann@example.com")
    job = run_import(
        "email,to_stage,created_at,amount\n"
        "ann@example.com,converted,2024-03-01T10:00:00Z,120.5\n"
        "ann@example.com,lead,2024-03-02T10:00:00Z,\n",
        kind="events",
    )
    assert job.created == 2
    assert dict(FunnelEvent.objects.filter(contact=ann).values_list("to_stage", "amount")) == {
        "converted": Decimal("120.50"),
        "lead": None,
    }


def test_events_with_a_negative_or_non_numeric_amount_are_row_errors(run_import: RunImport) -> None:
    make_contact(email="ann@example.com")
    job = run_import(
        "email,to_stage,amount\nann@example.com,converted,-3\nann@example.com,converted,abc\n", kind="events"
    )
    assert (job.created, job.errors) == (0, 2)
    assert not FunnelEvent.objects.exists()


def test_events_by_contact_id(run_import: RunImport) -> None:
    ann = make_contact()
    job = run_import(f"contact_id,funnel_type,to_stage\n{ann.pk},service-delivery,onboarded\n", kind="events")
    assert job.created == 1
    assert FunnelEvent.objects.get().funnel_type == FunnelEvent.FunnelType.SERVICE_DELIVERY


def test_events_with_unknown_funnel_type_are_row_errors(run_import: RunImport) -> None:
    make_contact(email="ann@example.com")
    job = run_import("email,funnel_type,to_stage\nann@example.com,marketing,applied\n", kind="events")
    assert (job.created, job.errors) == (0, 1)


def test_events_file_without_to_stage_fails(run_import: RunImport) -> None:
    job = run_import("email,funnel_type\nann@example.com,sales\n", kind="events")
    assert job.status == ImportJob.Status.FAILED
    assert "to_stage" in job.message


def test_events_import_never_changes_existing_events(run_import: RunImport) -> None:
    ann = make_contact(email="ann@example.com")
    event = FunnelEvent.objects.create(
        contact=ann,
        funnel_type="sales",
        from_stage="lead",
        to_stage="applied",
        created_at=dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC),
    )
    run_import(EVENTS, kind="events")
    event.refresh_from_db()
    assert (event.from_stage, event.to_stage, FunnelEvent.objects.count()) == ("lead", "applied", 2)
