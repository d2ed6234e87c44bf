"""Issue 18 §2: erasure leaves no personal data in any table; what stays (counts, hash, ledger, audit entry)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.urls import reverse

from contacts import crypto
from contacts.models import ConsentRecord, Contact, Suppression
from contacts.selectors import consent_ledger
from delivery.models import Delivery, Send
from privacy import services
from tests.privacy.conftest import ADDRESS, TARGET, run_import

# The address, its parts, and the rest of the person's data as the fixture wrote it.
NEEDLES = [
    "zoe.erasure-target",
    "erasure-target@",
    "Quixotic-Erasure",
    "7700 900123",
    "ZoePhone",
    "198.51.100.7",
    "203.0.113.9",
    "203.0.113.10",
]


def _text_columns() -> list[tuple[str, str]]:
    found = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField | models.JSONField | models.GenericIPAddressField):
                found.append((model._meta.db_table, str(field.column)))
    return sorted(set(found))


def _scan(needles: list[str]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a text, JSON or address column of any table holds a needle."""
    hits = []
    with connection.cursor() as cursor:
        for table, column in _text_columns():
            for needle in needles:
                cursor.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s', [f"%{needle}%"])
                if cursor.fetchone()[0]:
                    hits.append((table, column, needle))
    return hits


@pytest.mark.django_db
def test_the_fixture_spreads_the_person_over_many_tables(person: Contact) -> None:
    tables = {table for table, _, _ in _scan(NEEDLES)}

    assert {
        "contacts_contact",
        "delivery_delivery",
        "delivery_outboxmessage",
        "delivery_webhookevent",
        "auditlog_logentry",
        "contacts_consentrecord",
    } <= tables


@pytest.mark.django_db
def test_erasure_leaves_no_personal_data_in_any_table(person: Contact, admin_user: Any) -> None:
    services.gdpr_erase(email=TARGET, actor=admin_user)

    assert _scan(NEEDLES) == []


# In the files: the address and what its own line held. The error report keeps the line of the invalid address
# "zoe.erasure-target-at-privacy-test.example" (nothing ties it to the erased address; docs/privacy.md).
FILE_NEEDLES = ["erasure-target@", "7700 900123", "+44"]


def _file_hits(root: Path) -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(root)), needle)
        for path in sorted(root.rglob("*"))
        if path.is_file()
        for needle in FILE_NEEDLES
        if needle.lower() in path.read_bytes().decode("utf-8", "replace").lower()
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("keep_days", [0, 30])
def test_erasure_leaves_no_personal_data_in_any_stored_file(
    settings: Any, media: Path, keep_days: int, admin_user: Any
) -> None:
    """The person's import (upload kept or not, its error report naming the address) and a stored export."""
    settings.HERALD_IMPORT_KEEP_UPLOADS_DAYS = keep_days
    run_import(f"email,first_name,mobile,status\n{TARGET},Zoe,+44 7700 900123,subscribed\n{TARGET},Zoe,,maybe\n")
    assert _file_hits(media)  # the error report, and the upload when kept

    services.gdpr_erase(email=TARGET, actor=admin_user)

    assert _file_hits(media) == []


@pytest.mark.django_db
def test_erasure_keeps_the_delivery_rows_for_the_reports(person: Contact, admin_user: Any) -> None:
    send = Send.objects.get()
    before = list(Delivery.objects.filter(send=send).order_by("pk").values_list("status", flat=True))

    services.gdpr_erase(email=TARGET, actor=admin_user)

    after = list(Delivery.objects.filter(send=send).order_by("pk").values_list("status", flat=True))
    assert after == before
    assert Delivery.objects.filter(contact_id=person.pk, email="").count() == 1


@pytest.mark.django_db
def test_erasure_deletes_the_contact_and_what_hangs_off_it(person: Contact, admin_user: Any) -> None:
    from automations.models import Enrollment
    from contacts.models import ContactAttribute, FunnelEvent

    services.gdpr_erase(email=TARGET, actor=admin_user)

    assert not Contact.objects.filter(pk=person.pk).exists()
    assert not ContactAttribute.objects.filter(contact_id=person.pk).exists()
    assert not FunnelEvent.objects.filter(contact_id=person.pk).exists()
    assert not Enrollment.objects.filter(contact_id=person.pk).exists()
    assert Contact.objects.filter(email="other@privacy-test.example").exists()


@pytest.mark.django_db
def test_erasure_keeps_the_consent_ledger_under_the_hash_without_ip(person: Contact, admin_user: Any) -> None:
    services.gdpr_erase(email=TARGET, actor=admin_user)

    rows = ConsentRecord.objects.filter(email_hash=crypto.email_hash(ADDRESS))
    assert [r.action for r in rows.order_by("at", "pk")] == ["subscribe", "unsubscribe", "resubscribe", "suppress"]
    assert not rows.filter(ip__isnull=False).exists()
    assert not rows.filter(contact__isnull=False).exists()


@pytest.mark.django_db
def test_erasure_is_in_the_audit_log_with_the_actor_and_no_address(person: Contact, admin_user: Any) -> None:
    services.gdpr_erase(email=TARGET, actor=admin_user)

    entry = LogEntry.objects.get(additional_data__gdpr="erasure")
    assert entry.actor == admin_user
    assert entry.additional_data["email_hash"] == crypto.email_hash(ADDRESS)
    assert ADDRESS not in str(entry.additional_data) + entry.object_repr


@pytest.mark.django_db
def test_erasure_is_shown_on_the_audit_log_page(person: Contact, admin_user: Any, client: Any) -> None:
    services.gdpr_erase(email=TARGET, actor=admin_user)
    client.force_login(admin_user)

    page = client.get(reverse("accounts:audit-log")).content.decode()

    assert "GDPR erasure" in page and "erased contact" in page
    assert ADDRESS not in page


@pytest.mark.django_db
def test_erased_address_is_refused_by_a_later_import(person: Contact, admin_user: Any) -> None:
    services.gdpr_erase(email=TARGET, actor=admin_user)

    job = run_import(f"email,first_name\n{TARGET},Zoe\nnew@privacy-test.example,New\n")

    assert not Contact.objects.filter(email=ADDRESS).exists()
    assert (job.created, job.errors) == (1, 1)
    assert Suppression.objects.filter(email_hash=crypto.email_hash(ADDRESS), reason="erased").exists()


@pytest.fixture
def keep_uploads(settings: Any) -> None:
    settings.HERALD_IMPORT_KEEP_UPLOADS_DAYS = 30


@pytest.mark.django_db
def test_erasure_drops_the_address_from_stored_import_files(
    keep_uploads: None, person: Contact, admin_user: Any
) -> None:
    from contacts.models import ImportJob

    report = services.gdpr_erase(email=TARGET, actor=admin_user)

    job = ImportJob.objects.order_by("pk").first()
    assert job is not None
    assert report.counts["import_files"] == 1  # the upload (its error report names another, invalid, address)
    with job.file.open("rb") as f:
        content = f.read().decode()
    assert ADDRESS not in content.lower()
    assert "other@privacy-test.example" in content


@pytest.mark.django_db
def test_api_erase_is_for_admins_only(person: Contact, api: Any) -> None:
    response = api.post(f"/api/v1/contacts/{person.pk}/erase")

    assert response.status_code == 403
    assert Contact.objects.filter(pk=person.pk).exists()


@pytest.mark.django_db
def test_api_erase_erases_and_reports_the_counts(person: Contact, admin_api: Any) -> None:
    response = admin_api.post(f"/api/v1/contacts/{person.pk}/erase")

    assert response.status_code == 200
    assert response.json()["counts"]["contacts"] == 1
    assert not Contact.objects.filter(pk=person.pk).exists()


@pytest.mark.django_db
def test_dashboard_erase_needs_the_address_typed_again(person: Contact, client: Any, admin_user: Any) -> None:
    client.force_login(admin_user)
    url = reverse("privacy:contact-erase", args=[person.pk])

    assert client.get(url).status_code == 200
    assert client.post(url, {"confirm": "someone@else.example"}).status_code == 400
    assert Contact.objects.filter(pk=person.pk).exists()
    response = client.post(url, {"confirm": ADDRESS})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=person.pk).exists()


@pytest.mark.django_db
def test_dashboard_erase_is_refused_to_campaign_managers(person: Contact, client: Any, manager: Any) -> None:
    client.force_login(manager)

    response = client.post(reverse("privacy:contact-erase", args=[person.pk]), {"confirm": ADDRESS})

    assert response.status_code == 403
    assert Contact.objects.filter(pk=person.pk).exists()


@pytest.mark.django_db
def test_command_erases_with_yes(person: Contact) -> None:
    out = io.StringIO()

    call_command("gdpr", "erase", TARGET, "--yes", stdout=out)

    assert "on the suppression list" in out.getvalue()
    assert not Contact.objects.filter(pk=person.pk).exists()


@pytest.mark.django_db
def test_command_without_a_terminal_erases_nothing_and_says_to_pass_yes(
    person: Contact, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # closed input: a script or cron, nobody to answer

    with pytest.raises(CommandError, match="Pass --yes"):
        call_command("gdpr", "erase", TARGET)

    assert Contact.objects.filter(pk=person.pk).exists()


@pytest.mark.django_db
def test_erasure_leaves_the_shared_import_entry_to_the_other_contacts_of_that_import(
    person: Contact, admin_user: Any
) -> None:
    other = Contact.objects.get(email="other@privacy-test.example")
    assert other.consent_origin_id == person.consent_origin_id is not None

    services.gdpr_erase(email=TARGET, actor=admin_user)

    assert [r.action for r in consent_ledger(contact_id=other.pk)] == ["subscribe"]
    assert ConsentRecord.objects.get(pk=person.consent_origin_id).email_hash == ""
