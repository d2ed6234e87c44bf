"""Customers from the dashboard: add, edit, unsubscribe / resubscribe, delete, export, and who may do it."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from contacts import selectors, services
from contacts.models import Contact, ContactAttribute, FunnelEvent
from tests.contacts.conftest import make_contact

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _messages(response: object) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


def _export(client: Client, **params: str) -> list[list[str]]:
    response = client.get(reverse("contacts:export"), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response.streaming  # type: ignore[attr-defined]
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(body)))


# --- add ---------------------------------------------------------------------------------------------------


def test_manager_adds_a_subscribed_customer(manager: User) -> None:
    response = _client(manager).post(
        reverse("contacts:create"),
        {"email": " Ann@Example.COM ", "first_name": "Ann", "last_name": "Lee", "mobile": "", "lms_lead_id": "L-1"},
    )
    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("contacts:detail", args=[contact.pk])
    assert (contact.email, contact.first_name, contact.lms_lead_id) == ("ann@example.com", "Ann", "L-1")
    assert contact.status == Contact.Status.SUBSCRIBED
    assert _messages(response) == ["Customer ann@example.com added."]


def test_add_customer_without_external_id_stores_none(manager: User) -> None:
    make_contact(email="other@example.com", lms_lead_id=None)
    _client(manager).post(reverse("contacts:create"), {"email": "ann@example.com", "lms_lead_id": "  "})
    assert Contact.objects.get(email="ann@example.com").lms_lead_id is None


def test_add_customer_rejects_an_email_taken_in_another_case(manager: User) -> None:
    make_contact(email="ann@example.com")
    response = _client(manager).post(reverse("contacts:create"), {"email": "ANN@example.com"})
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert Contact.objects.count() == 1


def test_add_customer_rejects_a_taken_external_id(manager: User) -> None:
    make_contact(email="ann@example.com", lms_lead_id="L-1")
    response = _client(manager).post(reverse("contacts:create"), {"email": "bob@example.com", "lms_lead_id": "L-1"})
    assert response.status_code == 200
    assert "lms_lead_id" in response.context["form"].errors
    assert not Contact.objects.filter(email="bob@example.com").exists()


def test_add_customer_rejects_an_invalid_email(manager: User) -> None:
    response = _client(manager).post(reverse("contacts:create"), {"email": "not-an-email"})
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert not Contact.objects.exists()


def test_service_refuses_a_duplicate_email_even_without_the_form() -> None:
    services.contact_create(email="ann@example.com")
    with pytest.raises(ValidationError) as exc:
        services.contact_create(email="ANN@example.com")
    assert "email" in exc.value.message_dict


# --- edit --------------------------------------------------------------------------------------------------


def test_manager_edits_a_customer(manager: User) -> None:
    contact = make_contact(email="ann@example.com", first_name="Ann", lms_lead_id="L-1")
    before = contact.updated_at
    response = _client(manager).post(
        reverse("contacts:edit", args=[contact.pk]),
        {
            "email": "ann.lee@example.com",
            "first_name": "Annika",
            "last_name": "Lee",
            "mobile": "+44 1",
            "lms_lead_id": "",
        },
    )
    contact.refresh_from_db()
    assert response.status_code == 302
    assert (contact.email, contact.first_name, contact.mobile, contact.lms_lead_id) == (
        "ann.lee@example.com",
        "Annika",
        "+44 1",
        None,
    )
    assert contact.updated_at > before


def test_edit_keeps_the_status_as_it_was(manager: User) -> None:
    contact = make_contact(email="ann@example.com", status=Contact.Status.UNSUBSCRIBED)
    _client(manager).post(reverse("contacts:edit", args=[contact.pk]), {"email": "ann@example.com", "first_name": "A"})
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED


def test_edit_rejects_another_customers_email(manager: User) -> None:
    make_contact(email="bob@example.com")
    contact = make_contact(email="ann@example.com")
    response = _client(manager).post(reverse("contacts:edit", args=[contact.pk]), {"email": "bob@example.com"})
    contact.refresh_from_db()
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert contact.email == "ann@example.com"


def test_edit_form_is_prefilled_with_the_external_id_label(manager: User) -> None:
    contact = make_contact(email="ann@example.com", lms_lead_id="L-7")
    body = _client(manager).get(reverse("contacts:edit", args=[contact.pk])).content.decode()
    assert "External id" in body
    assert 'value="L-7"' in body


# --- unsubscribe / resubscribe / delete ---------------------------------------------------------------------


def test_manager_unsubscribes_a_customer(manager: User) -> None:
    contact = make_contact()
    response = _client(manager).post(reverse("contacts:unsubscribe", args=[contact.pk]))
    contact.refresh_from_db()
    assert response.status_code == 302
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert contact.unsubscribed_at is not None


def test_unsubscribing_twice_changes_nothing_the_second_time(manager: User) -> None:
    contact = make_contact()
    client = _client(manager)
    client.post(reverse("contacts:unsubscribe", args=[contact.pk]))
    first = Contact.objects.get(pk=contact.pk).unsubscribed_at
    response = client.post(reverse("contacts:unsubscribe", args=[contact.pk]))
    assert Contact.objects.get(pk=contact.pk).unsubscribed_at == first
    assert any("nothing changed" in m for m in _messages(response))


def test_manager_resubscribes_an_unsubscribed_customer(manager: User) -> None:
    contact = make_contact()
    services.contact_unsubscribe(contact_id=contact.pk)
    _client(manager).post(reverse("contacts:resubscribe", args=[contact.pk]))
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED
    assert contact.unsubscribed_at is None


def test_a_bounced_customer_is_not_resubscribed(manager: User) -> None:
    contact = make_contact(status=Contact.Status.BOUNCED)
    response = _client(manager).post(reverse("contacts:resubscribe", args=[contact.pk]))
    contact.refresh_from_db()
    assert contact.status == Contact.Status.BOUNCED
    assert any("only unsubscribed customers" in m for m in _messages(response))


def test_manager_deletes_a_customer_with_their_attributes_and_events(manager: User) -> None:
    contact = make_contact()
    ContactAttribute.objects.create(contact=contact, field_name="plan", field_type="string", field_value="pro")
    FunnelEvent.objects.create(contact=contact, funnel_type="sales", to_stage="lead")
    response = _client(manager).post(reverse("contacts:delete", args=[contact.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("contacts:list")
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not ContactAttribute.objects.filter(contact_id=contact.pk).exists()
    assert not FunnelEvent.objects.filter(contact_id=contact.pk).exists()


def test_admin_can_delete_a_customer(admin_user: User) -> None:
    contact = make_contact()
    _client(admin_user).post(reverse("contacts:delete", args=[contact.pk]))
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_delete_is_post_only(manager: User) -> None:
    contact = make_contact()
    assert _client(manager).get(reverse("contacts:delete", args=[contact.pk])).status_code == 405
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_detail_page_confirms_unsubscribe_and_delete_without_inline_script(manager: User) -> None:
    contact = make_contact()
    body = _client(manager).get(reverse("contacts:detail", args=[contact.pk])).content.decode()
    assert body.count("data-confirm=") == 2
    assert "onsubmit" not in body and "onclick" not in body


# --- roles -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method", "data"),
    [
        ("contacts:create", "get", {}),
        ("contacts:create", "post", {"email": "new@example.com"}),
        ("contacts:edit", "get", {}),
        ("contacts:edit", "post", {"email": "changed@example.com"}),
        ("contacts:unsubscribe", "post", {}),
        ("contacts:resubscribe", "post", {}),
        ("contacts:delete", "post", {}),
    ],
)
def test_viewer_gets_403_on_customer_writes(viewer: User, name: str, method: str, data: dict[str, str]) -> None:
    contact = make_contact(email="ann@example.com", status=Contact.Status.UNSUBSCRIBED)
    url = reverse(name) if name == "contacts:create" else reverse(name, args=[contact.pk])
    response = getattr(_client(viewer), method)(url, data)
    assert response.status_code == 403
    after = Contact.objects.get()
    assert (after.email, after.status) == ("ann@example.com", Contact.Status.UNSUBSCRIBED)


def test_viewer_sees_no_write_buttons(viewer: User) -> None:
    contact = make_contact()
    client = _client(viewer)
    detail = client.get(reverse("contacts:detail", args=[contact.pk])).content.decode()
    listing = client.get(reverse("contacts:list")).content.decode()
    assert reverse("contacts:edit", args=[contact.pk]) not in detail
    assert reverse("contacts:delete", args=[contact.pk]) not in detail
    assert reverse("contacts:create") not in listing


def test_writes_need_login(client: Client) -> None:
    contact = make_contact()
    response = client.post(reverse("contacts:delete", args=[contact.pk]))
    assert response.status_code == 302
    assert Contact.objects.filter(pk=contact.pk).exists()


# --- export ------------------------------------------------------------------------------------------------


def test_export_is_the_filtered_list_with_import_column_names(viewer: User) -> None:
    make_contact(email="ann@example.com", first_name="Ann", last_name="Lee", lms_lead_id="L-1")
    make_contact(email="anna@example.com", status=Contact.Status.UNSUBSCRIBED)
    # Named, not from the factory: a random first name like "Ann" would match the search too.
    make_contact(email="bob@example.com", first_name="Bob", last_name="Stone")
    rows = _export(_client(viewer), q="ann", status="subscribed")
    assert rows == [
        ["email", "first_name", "last_name", "mobile", "lms_lead_id", "status"],
        ["ann@example.com", "Ann", "Lee", "", "L-1", "subscribed"],
    ]


def test_export_without_filters_has_every_customer_across_chunks(viewer: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selectors, "EXPORT_CHUNK", 3)
    emails = [make_contact(email=f"u{i}@example.com").email for i in range(8)]
    rows = _export(_client(viewer))
    assert [row[0] for row in rows[1:]] == emails


def test_export_escapes_cells_a_spreadsheet_would_run(viewer: User) -> None:
    make_contact(email="x@example.com", first_name='=HYPERLINK("http://evil")', last_name="@SUM(A1)", mobile="+44 20")
    make_contact(email="y@example.com", first_name="-2+3", last_name="\tTab", lms_lead_id="\rcr")
    rows = {row[0]: row for row in _export(_client(viewer))[1:]}
    assert rows["x@example.com"][1:4] == ['\'=HYPERLINK("http://evil")', "'@SUM(A1)", "'+44 20"]
    assert rows["y@example.com"][1:5] == ["'-2+3", "'\tTab", "", "'\rcr"]


def test_export_link_on_the_list_keeps_the_filters(viewer: User) -> None:
    body = _client(viewer).get(reverse("contacts:list"), {"q": "ann lee", "status": "subscribed"}).content.decode()
    assert f"{reverse('contacts:export')}?q=ann%20lee&amp;status=subscribed" in body


def test_export_needs_login(client: Client) -> None:
    assert client.get(reverse("contacts:export")).status_code == 302
