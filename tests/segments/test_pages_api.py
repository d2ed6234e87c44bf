from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from segments import services
from segments.models import Segment, SegmentMember
from tests.segments.util import make_contact, set_attribute

pytestmark = pytest.mark.django_db

SCORE_RULES = {"op": "and", "conditions": [{"attribute": "score", "type": "numeric", "operator": "gt", "value": 50}]}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rules_segment(user: User, name: str = "High scorers") -> Segment:
    return services.segment_create(user=user, name=name, type=Segment.Type.RULES, rules=SCORE_RULES)


def _scored(n: int, score: int) -> list[int]:
    ids = []
    for _ in range(n):
        contact = make_contact()
        set_attribute(contact, "score", "numeric", score)
        ids.append(contact.pk)
    return ids


# --- API ------------------------------------------------------------------------------------------------------


def test_api_creates_a_rules_segment(api: APIClient) -> None:
    response = api.post("/api/v1/segments", {"name": "S", "type": "rules", "rules": SCORE_RULES}, format="json")
    assert response.status_code == 201, response.content
    assert Segment.objects.get(pk=response.json()["id"]).rules == SCORE_RULES


def test_api_rejects_bad_rules_with_a_field_message(api: APIClient) -> None:
    bad = {"conditions": [{"attribute": "score", "type": "numeric", "operator": "gt", "value": "lots"}]}
    response = api.post("/api/v1/segments", {"name": "S", "type": "rules", "rules": bad}, format="json")
    assert response.status_code == 400
    assert "not a number" in json.dumps(response.json()["rules"])


def test_api_count_and_contacts(api: APIClient, manager: User) -> None:
    high = _scored(3, 80)
    _scored(2, 10)
    segment = _rules_segment(manager)
    assert api.get(f"/api/v1/segments/{segment.pk}/count").json() == {"count": 3}
    body = api.get(f"/api/v1/segments/{segment.pk}/contacts").json()
    assert body["count"] == 3
    assert [c["id"] for c in body["results"]] == sorted(high)


def test_api_viewer_reads_but_cannot_write(viewer_api: APIClient, manager: User) -> None:
    segment = _rules_segment(manager)
    assert viewer_api.get(f"/api/v1/segments/{segment.pk}").status_code == 200
    assert viewer_api.post("/api/v1/segments", {"name": "S", "type": "manual"}, format="json").status_code == 403
    assert viewer_api.delete(f"/api/v1/segments/{segment.pk}").status_code == 403


def test_api_manager_cannot_write_an_sql_segment(api: APIClient) -> None:
    response = api.post(
        "/api/v1/segments",
        {"name": "S", "type": "sql", "selection_sql": "SELECT id FROM contacts_contact"},
        format="json",
    )
    assert response.status_code == 403
    assert not Segment.objects.exists()


def test_api_admin_sql_segment_with_ddl_gets_a_clear_400(admin_api: APIClient) -> None:
    response = admin_api.post(
        "/api/v1/segments", {"name": "S", "type": "sql", "selection_sql": "DROP TABLE contacts_contact"}, format="json"
    )
    assert response.status_code == 400
    assert "starts with DROP" in response.json()["selection_sql"][0]


# --- pages ----------------------------------------------------------------------------------------------------


def test_list_page_searches(viewer: User, manager: User) -> None:
    _rules_segment(manager, "Alumni")
    _rules_segment(manager, "Leads")
    response = _client(viewer).get(reverse("segments:list"), {"q": "alum"})
    assert [s.name for s in response.context["page"]] == ["Alumni"]


def test_detail_page_shows_sql_count_and_keyset_members(viewer: User, manager: User) -> None:
    ids = _scored(60, 90)
    segment = _rules_segment(manager)
    client = _client(viewer)
    first = client.get(reverse("segments:detail", args=[segment.pk]))
    assert first.context["count"] == 60
    assert "EXISTS" in first.context["sql"].upper()
    page = first.context["members"]
    assert [c.pk for c in page.contacts] == sorted(ids)[:50]
    second = client.get(reverse("segments:detail", args=[segment.pk]), {"after": page.next_after})
    assert [c.pk for c in second.context["members"].contacts] == sorted(ids)[50:]


def test_preview_counts_unsaved_rules_with_a_sample(manager: User) -> None:
    _scored(25, 90)
    response = _client(manager).post(
        reverse("segments:preview"), {"name": "x", "type": "rules", "rules": json.dumps(SCORE_RULES)}
    )
    assert response.status_code == 200
    assert response.context["count"] == 25
    assert len(response.context["sample"]) == 20
    assert not Segment.objects.exists()


def test_preview_of_bad_sql_shows_the_message_not_500(admin_user: User) -> None:
    response = _client(admin_user).post(
        reverse("segments:preview"), {"name": "x", "type": "sql", "selection_sql": "SELECT nope FROM contacts_contact"}
    )
    assert response.status_code == 200
    assert "nope" in response.context["eval_error"]


def test_preview_of_sql_is_admin_only(manager: User) -> None:
    response = _client(manager).post(
        reverse("segments:preview"), {"name": "x", "type": "sql", "selection_sql": "SELECT id FROM contacts_contact"}
    )
    assert "Only Admins" in response.context["eval_error"]


def test_create_page_offers_sql_only_to_admins(manager: User, admin_user: User) -> None:
    manager_types = [
        v for v, _ in _client(manager).get(reverse("segments:create")).context["form"].fields["type"].choices
    ]
    admin_types = [
        v for v, _ in _client(admin_user).get(reverse("segments:create")).context["form"].fields["type"].choices
    ]
    assert "sql" not in manager_types and "sql" in admin_types


def test_create_page_saves_rules(manager: User) -> None:
    response = _client(manager).post(
        reverse("segments:create"), {"name": "New", "type": "rules", "rules": json.dumps(SCORE_RULES)}
    )
    segment = Segment.objects.get(name="New")
    assert response.status_code == 302 and segment.rules == SCORE_RULES


def test_viewer_cannot_create(viewer: User) -> None:
    assert _client(viewer).post(reverse("segments:create"), {"name": "x", "type": "manual"}).status_code == 403


def test_upload_page_adds_members(manager: User) -> None:
    contact = make_contact()
    segment = services.segment_create(user=manager, name="m", type=Segment.Type.MANUAL)
    upload = SimpleUploadedFile("ids.csv", f"email\n{contact.email}\n".encode(), content_type="text/csv")
    response = _client(manager).post(reverse("segments:upload", args=[segment.pk]), {"file": upload})
    assert response.status_code == 302
    assert SegmentMember.objects.filter(segment=segment, contact=contact).exists()


def test_members_can_be_listed_on_the_page(manager: User) -> None:
    a, b = make_contact(), make_contact()
    segment = services.segment_create(user=manager, name="m", type=Segment.Type.MANUAL)
    response = _client(manager).post(reverse("segments:upload", args=[segment.pk]), {"members": f"{a.pk}\n{b.email}"})
    assert response.status_code == 302
    assert set(SegmentMember.objects.filter(segment=segment).values_list("contact_id", flat=True)) == {a.pk, b.pk}


def test_api_adds_members_by_id_and_email(api: APIClient, manager: User) -> None:
    a, b = make_contact(), make_contact()
    segment = services.segment_create(user=manager, name="m", type=Segment.Type.MANUAL)
    response = api.post(
        f"/api/v1/segments/{segment.pk}/members",
        {"contact_ids": [a.pk], "emails": [b.email.upper(), "nobody@example.org"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["added"] == 2 and response.json()["not_found"] == ["nobody@example.org"]
    assert api.get(f"/api/v1/segments/{segment.pk}/count").json() == {"count": 2}


def test_api_members_of_a_rules_segment_is_a_400(api: APIClient, manager: User) -> None:
    segment = _rules_segment(manager)
    response = api.post(f"/api/v1/segments/{segment.pk}/members", {"contact_ids": [1]}, format="json")
    assert response.status_code == 400


def test_api_sql_segment_timeout_on_count_is_a_400_not_500(
    admin_api: APIClient, admin_user: User, settings: object
) -> None:
    make_contact()
    segment = services.segment_create(
        user=admin_user, name="slow", type=Segment.Type.SQL, selection_sql="SELECT id FROM contacts_contact"
    )
    # Saved while fast; slow by the time it is counted (data grows): the timeout must come back as a message.
    Segment.objects.filter(pk=segment.pk).update(
        selection_sql="SELECT g FROM generate_series(1::bigint, 50000000::bigint) AS g WHERE g % 7 = 8"
    )
    settings.SEGMENT_SQL_TIMEOUT_MS = 100  # type: ignore[attr-defined]
    response = admin_api.get(f"/api/v1/segments/{segment.pk}/count")
    assert response.status_code == 400
    assert "longer than" in response.json()["detail"]
