"""Issue 18 §2: the consent ledger is written by every path that changes consent, in the same transaction."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from contacts import crypto
from contacts import services as contact_services
from contacts.models import ConsentRecord, Contact, Suppression
from contacts.selectors import consent_ledger
from delivery.tokens import UNSUBSCRIBE_SALT, token_make
from tests.privacy.conftest import run_import


def _ledger(contact: Contact) -> list[tuple[str, str, str, str | None]]:
    return [(r.action, r.source, r.detail, r.ip) for r in consent_ledger(contact_id=contact.pk).order_by("at", "pk")]


@pytest.mark.django_db
def test_imported_contacts_ledger_shows_the_import_entry_of_its_status(media: Any) -> None:
    job = run_import("email,status\na@consent.example,\nb@consent.example,unsubscribed\n")

    a = Contact.objects.get(email="a@consent.example")
    b = Contact.objects.get(email="b@consent.example")
    assert _ledger(a) == [("subscribe", "import", f"import job {job.pk}", None)]
    assert _ledger(b) == [("unsubscribe", "import", f"import job {job.pk}", None)]


@pytest.mark.django_db
def test_import_writes_one_ledger_entry_per_action_shared_by_its_contacts(media: Any) -> None:
    run_import("email,status\na@consent.example,\nb@consent.example,unsubscribed\nc@consent.example,\n")

    a, b, c = Contact.objects.order_by("email")
    assert ConsentRecord.objects.count() == 2
    assert a.consent_origin_id == c.consent_origin_id != b.consent_origin_id
    assert not ConsentRecord.objects.filter(contact__isnull=False).exists()


@pytest.mark.django_db
def test_import_creating_no_contact_writes_no_ledger_entry(media: Any) -> None:
    run_import("email\nnot-an-address\n")

    assert not ConsentRecord.objects.exists()


@pytest.mark.django_db
def test_contact_ledger_does_not_show_another_imports_entry(media: Any) -> None:
    run_import("email\na@consent.example\n")
    run_import("email\nb@consent.example\na@consent.example\n")

    a = Contact.objects.get(email="a@consent.example")
    assert len(_ledger(a)) == 1


@pytest.mark.django_db
def test_reimport_of_unchanged_contacts_writes_no_ledger_rows(media: Any) -> None:
    run_import("email\na@consent.example\n")

    run_import("email\na@consent.example\n")

    assert ConsentRecord.objects.count() == 1


@pytest.mark.django_db
def test_import_that_unsubscribes_an_existing_contact_records_it(media: Any) -> None:
    run_import("email\na@consent.example\n")

    run_import("email,status\na@consent.example,unsubscribed\n")

    assert [a for a, *_ in _ledger(Contact.objects.get())] == ["subscribe", "unsubscribe"]


@pytest.mark.django_db
def test_api_bulk_records_source_api_and_the_callers_ip(api: Any) -> None:
    response = api.post(
        "/api/v1/contacts/bulk", [{"email": "a@consent.example"}], format="json", REMOTE_ADDR="192.0.2.44"
    )

    assert response.status_code == 200
    assert _ledger(Contact.objects.get()) == [("subscribe", "api", "", "192.0.2.44")]


@pytest.mark.django_db
def test_unsubscribe_link_records_the_link_and_ip(client: Any) -> None:
    contact = Contact.objects.create(email="a@consent.example")
    token = token_make(delivery_id=0, contact_id=contact.pk, salt=UNSUBSCRIBE_SALT)

    client.post(reverse("delivery:unsubscribe", args=[token]), REMOTE_ADDR="198.51.100.20")

    assert _ledger(contact) == [("unsubscribe", "link", "confirm page", "198.51.100.20")]


@pytest.mark.django_db
def test_one_click_unsubscribe_is_recorded_as_one_click(client: Any) -> None:
    contact = Contact.objects.create(email="a@consent.example")
    token = token_make(delivery_id=0, contact_id=contact.pk, salt=UNSUBSCRIBE_SALT)

    client.post(reverse("delivery:unsubscribe", args=[token]), {"List-Unsubscribe": "One-Click"})

    assert _ledger(contact)[0][:3] == ("unsubscribe", "link", "one-click")


@pytest.mark.django_db
def test_dashboard_unsubscribe_and_resubscribe_are_recorded_as_admin(client: Any, manager: Any) -> None:
    contact = Contact.objects.create(email="a@consent.example")
    client.force_login(manager)

    client.post(reverse("contacts:unsubscribe", args=[contact.pk]), REMOTE_ADDR="192.0.2.1")
    client.post(reverse("contacts:resubscribe", args=[contact.pk]), REMOTE_ADDR="192.0.2.1")

    assert _ledger(contact) == [("unsubscribe", "admin", "", "192.0.2.1"), ("resubscribe", "admin", "", "192.0.2.1")]


@pytest.mark.django_db
def test_a_second_unsubscribe_writes_nothing(db: None) -> None:
    contact = Contact.objects.create(email="a@consent.example")

    contact_services.contact_unsubscribe(contact_id=contact.pk)
    contact_services.contact_unsubscribe(contact_id=contact.pk)

    assert len(_ledger(contact)) == 1


@pytest.mark.django_db
def test_webhook_suppression_records_it_and_lists_the_address(db: None) -> None:
    contact = Contact.objects.create(email="a@consent.example")

    contact_services.contact_suppress(status="bounced", contact_id=contact.pk)

    assert _ledger(contact) == [("suppress", "webhook", "bounced", None)]
    assert Suppression.objects.get().email_hash == crypto.email_hash("A@consent.example ")


@pytest.mark.django_db
def test_suppressed_address_cannot_be_created_again(db: None) -> None:
    from django.core.exceptions import ValidationError

    Suppression.objects.create(email_hash=crypto.email_hash("a@consent.example"), reason="erased", source="admin")

    with pytest.raises(ValidationError, match="suppression list"):
        contact_services.contact_create(email="A@consent.example")


@pytest.mark.django_db
def test_api_bulk_refuses_a_suppressed_address_per_item(api: Any) -> None:
    Suppression.objects.create(email_hash=crypto.email_hash("a@consent.example"), reason="erased", source="admin")

    response = api.post(
        "/api/v1/contacts/bulk", [{"email": "a@consent.example"}, {"email": "b@consent.example"}], format="json"
    )

    results = response.json()["results"]
    assert [r["status"] for r in results] == ["error", "created"]
    assert "suppression list" in results[0]["error"]


@pytest.mark.django_db
def test_contact_page_shows_the_ledger(client: Any, viewer: Any) -> None:
    contact = contact_services.contact_create(email="a@consent.example", ip="192.0.2.8")
    client.force_login(viewer)

    page = client.get(reverse("contacts:detail", args=[contact.pk])).content.decode()

    assert "192.0.2.8" in page and "Subscribed" in page.split('id="consent"')[1]


@pytest.mark.django_db
def test_changing_an_email_to_a_suppressed_address_is_refused(db: None) -> None:
    from django.core.exceptions import ValidationError

    contact = contact_services.contact_create(email="a@consent.example")
    Suppression.objects.create(email_hash=crypto.email_hash("b@consent.example"), reason="erased", source="admin")

    with pytest.raises(ValidationError, match="suppression list"):
        contact_services.contact_update(contact=contact, email="b@consent.example")


@pytest.mark.django_db
def test_status_changed_in_the_django_admin_is_recorded(client: Any, admin_user: Any) -> None:
    contact = contact_services.contact_create(email="a@consent.example")
    admin_user.is_staff = admin_user.is_superuser = True  # the contact admin's model permissions
    admin_user.save()
    client.force_login(admin_user)
    url = f"/admin/contacts/contact/{contact.pk}/change/"
    data = {"email": contact.email, "first_name": "", "last_name": "", "mobile": "", "lms_lead_id": ""}
    data.update({"status": "unsubscribed", "attributes-TOTAL_FORMS": "0", "attributes-INITIAL_FORMS": "0"})

    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert _ledger(contact)[-1][:3] == ("unsubscribe", "admin", "admin: unsubscribed")


@pytest.mark.django_db
def test_import_entry_of_an_action_whose_contacts_another_writer_created_first_is_dropped(
    media: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contacts.importing import merge

    original = merge.ContactMerge._insert_new

    def racing_insert(self: merge.ContactMerge, types: dict[str, str]) -> int:
        # Another writer commits this email after the import's match and before its insert.
        Contact.objects.create(email="a@consent.example")
        return original(self, types)

    monkeypatch.setattr(merge.ContactMerge, "_insert_new", racing_insert)
    run_import("email,status\na@consent.example,unsubscribed\nb@consent.example,\n")

    assert list(ConsentRecord.objects.values_list("action", flat=True)) == ["subscribe"]
    assert _ledger(Contact.objects.get(email="b@consent.example"))[0][0] == "subscribe"
