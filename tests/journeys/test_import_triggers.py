"""Journey triggers after a CSV import: the hook enrolls set-based (one INSERT ... SELECT per journey from the new
rows' id range), every new contact once, by the re-entry policy, and never the contacts that were already there."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.utils import timezone

from automations import journeys
from automations.models import Enrollment, Journey
from contacts import services as contact_services
from contacts.models import Batch, BatchMember, Contact, ImportJob
from tests.journeys.conftest import make_contacts, welcome

pytestmark = pytest.mark.django_db

E = Enrollment.Status
R = Journey.Reentry


@pytest.fixture
def run_import(settings: Any, tmp_path: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """Import `text` through the product path with its on-commit hooks run (as the worker does)."""
    settings.MEDIA_ROOT = str(tmp_path)

    def run(text: str, *, kind: str = "contacts", batch: Batch | None = None) -> ImportJob:
        job = contact_services.import_job_create(
            file=io.BytesIO(text.encode()), original_name="a.csv", kind=kind, batch=batch, start=False
        )
        with django_capture_on_commit_callbacks(execute=True):
            job = contact_services.import_job_run(job_id=job.pk)
        assert job.status == ImportJob.Status.DONE, job.message
        return job

    return run


def _csv(emails: list[str], header: str = "email") -> str:
    return header + "\n" + "\n".join(emails) + "\n"


def _enrolled() -> list[tuple[int, str]]:
    return sorted(Enrollment.objects.values_list("contact_id", "trigger_key"))


def test_an_import_enrolls_every_new_contact_once_into_a_contact_created_journey(clock, run_import) -> None:
    journey = welcome(trigger={"type": "contact_created"})
    old = make_contacts(3, prefix="old")
    emails = [f"new{i}@example.com" for i in range(50)]
    run_import(_csv([old[0].email, *emails, emails[0], old[1].email]))  # duplicates and existing contacts
    new = Contact.objects.filter(email__in=emails)
    assert _enrolled() == sorted((c.pk, f"contact:{c.pk}") for c in new)
    assert set(Enrollment.objects.values_list("journey_id", "step_key", "status").distinct()) == {
        (journey.pk, "s1", E.ACTIVE)
    }


def test_an_import_into_the_trigger_batch_enrolls_its_new_members_not_the_members_already_there(
    clock, run_import
) -> None:
    batch = Batch.objects.create(name="Leads")
    welcome(trigger={"type": "batch", "batch": batch.pk})
    member, outsider = make_contacts(2, prefix="old")
    BatchMember.objects.create(batch=batch, contact=member)
    run_import(_csv([member.email, outsider.email, "new@example.com"]), batch=batch)
    added = [outsider.pk, Contact.objects.get(email="new@example.com").pk]
    keys = dict(BatchMember.objects.filter(contact_id__in=added).values_list("contact_id", "pk"))
    assert _enrolled() == sorted((pk, f"member:{keys[pk]}") for pk in added)


def test_an_events_import_enrolls_each_contact_once_on_its_first_event_to_the_stage(clock, run_import) -> None:
    welcome(trigger={"type": "event", "to_stage": "signed_up"})
    a, b, c = make_contacts(3)
    rows = [f"{a.email},signed_up", f"{a.email},signed_up", f"{b.email},lead", f"{c.email},signed_up"]
    run_import(_csv(rows, header="email,to_stage"), kind="events")
    first = {contact_id: min(ids) for contact_id, ids in _event_ids("signed_up").items()}
    assert _enrolled() == sorted((pk, f"event:{first[pk]}") for pk in (a.pk, c.pk))


def _event_ids(stage: str) -> dict[int, list[int]]:
    from contacts.models import FunnelEvent

    found: dict[int, list[int]] = {}
    for pk, contact_id in FunnelEvent.objects.filter(to_stage=stage).values_list("pk", "contact_id"):
        found.setdefault(contact_id, []).append(pk)
    return found


@pytest.mark.parametrize(
    ("reentry", "expected"),
    [
        (R.ONCE, {"none"}),
        (R.AFTER_EXIT, {"none", "completed"}),
        (R.NEVER_WHILE_ACTIVE, {"none", "completed", "cancelled"}),
    ],
)
def test_an_events_import_honours_the_reentry_policy(clock, run_import, reentry: str, expected: set[str]) -> None:
    journey = welcome(trigger={"type": "event", "to_stage": "signed_up"}, reentry=reentry)
    people = dict(zip(["none", "completed", "cancelled", "active"], make_contacts(4), strict=True))
    for name, status in (("completed", E.COMPLETED), ("cancelled", E.CANCELLED), ("active", E.ACTIVE)):
        Enrollment.objects.create(
            journey=journey, contact=people[name], status=status, entered_at=timezone.now(), trigger_key=f"old:{name}"
        )
    run_import(_csv([f"{c.email},signed_up" for c in people.values()], header="email,to_stage"), kind="events")
    fresh = Enrollment.objects.filter(trigger_key__startswith="event:").values_list("contact_id", flat=True)
    assert sorted(fresh) == sorted(people[name].pk for name in expected)


def test_an_imported_contact_that_is_not_subscribed_is_not_enrolled(clock, run_import) -> None:
    welcome(trigger={"type": "contact_created"})
    run_import("email,status\nin@example.com,subscribed\nout@example.com,unsubscribed\n")
    assert list(Enrollment.objects.values_list("contact__email", flat=True)) == ["in@example.com"]


def test_the_hook_runs_a_fixed_number_of_queries_whatever_the_number_of_new_contacts(
    clock, django_assert_max_num_queries
) -> None:
    welcome(trigger={"type": "contact_created"})
    welcome(trigger={"type": "event", "to_stage": "signed_up"})
    make_contacts(6000)
    with django_assert_max_num_queries(12):
        enrolled = journeys.journeys_on_new_rows(after={"contact": 0, "funnel_event": 0, "batch_member": 0})
    assert enrolled == 6000 == Enrollment.objects.count()
