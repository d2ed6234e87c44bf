"""Issue 13 §4: the inputs that made the segments API answer 500 are 400s with a JSON message."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from segments import services
from segments.models import Segment, SegmentMember
from tests.segments.util import make_contact

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _manual(user: User) -> Segment:
    return services.segment_create(user=user, name="Hand-picked", type=Segment.Type.MANUAL)


def test_create_without_type_is_a_400_naming_the_field(api: APIClient) -> None:
    response = api.post("/api/v1/segments", {"name": "No type"}, format="json")
    assert response.status_code == 400
    assert "type" in response.json()


def test_members_with_a_contact_id_beyond_bigint_is_a_400(api: APIClient, manager: User) -> None:
    segment = _manual(manager)
    response = api.post(f"/api/v1/segments/{segment.pk}/members", {"contact_ids": [2**63]}, format="json")
    assert response.status_code == 400
    assert "contact_ids" in response.json()


def test_contacts_page_beyond_any_offset_is_a_400(api: APIClient, manager: User) -> None:
    segment = _manual(manager)
    response = api.get(f"/api/v1/segments/{segment.pk}/contacts", {"page": 10**20})
    assert response.status_code == 400
    assert "page" in response.json()


def test_members_upload_of_a_png_is_a_400_saying_what_it_is(api: APIClient, manager: User) -> None:
    segment = _manual(manager)
    upload = SimpleUploadedFile("members.csv", PNG, content_type="image/png")
    response = api.post(f"/api/v1/segments/{segment.pk}/members", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["file"] == ["This is not a CSV file: it is a PNG image."]


def test_members_upload_with_bare_cr_line_ends_is_read(api: APIClient, manager: User) -> None:
    segment = _manual(manager)
    ann, bob = make_contact(email="ann@example.com"), make_contact(email="bob@example.com")
    upload = SimpleUploadedFile("members.csv", b"email\rann@example.com\rbob@example.com\r", content_type="text/csv")
    response = api.post(f"/api/v1/segments/{segment.pk}/members", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json()["added"] == 2
    assert set(SegmentMember.objects.values_list("contact_id", flat=True)) == {ann.pk, bob.pk}


def test_members_upload_of_text_with_a_nul_byte_is_a_400(api: APIClient, manager: User) -> None:
    segment = _manual(manager)
    upload = SimpleUploadedFile("members.csv", b"email\nann@example.com\x00\n", content_type="text/csv")
    response = api.post(f"/api/v1/segments/{segment.pk}/members", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "not a CSV file" in response.json()["file"][0]


def test_members_upload_wider_than_the_column_limit_is_a_400(
    api: APIClient, manager: User, settings: pytest.FixtureRequest
) -> None:
    settings.IMPORT_MAX_COLUMNS = 5  # type: ignore[attr-defined]
    segment = _manual(manager)
    upload = SimpleUploadedFile("members.csv", b"email" + b",x" * 10 + b"\n", content_type="text/csv")
    response = api.post(f"/api/v1/segments/{segment.pk}/members", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "at most 5" in response.json()["file"][0]


def test_members_upload_treats_an_id_beyond_bigint_as_not_found(manager: User) -> None:
    segment = _manual(manager)
    result = services.segment_members_upload(
        segment=segment, user=manager, file=SimpleUploadedFile("m.csv", f"id\n{2**64}\n".encode())
    )
    assert (result.rows, result.matched, result.not_found) == (1, 0, [str(2**64)])
