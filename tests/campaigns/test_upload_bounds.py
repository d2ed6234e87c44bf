"""Issue 13 §4: the inline upload (imported within the web request) is bounded like the worker's import."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from contacts.models import Contact
from tests.campaigns.clock import TODAY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


@pytest.fixture(autouse=True)
def _media(settings: pytest.FixtureRequest, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]


def test_inline_campaign_upload_of_a_30000_column_file_is_a_400_with_the_limit(api: APIClient) -> None:
    campaign = api.post(
        "/api/v1/campaigns",
        {"name": "Winter", "start_date": str(TODAY), "end_date": str(TODAY + dt.timedelta(days=10)), "timezone": "UTC"},
        format="json",
    ).json()
    data = ("email," + ",".join(f"c{i}" for i in range(30_000)) + "\na@example.com\n").encode()
    upload = SimpleUploadedFile("wide.csv", data, content_type="text/csv")
    response = api.post(f"/api/v1/campaigns/{campaign['id']}/contacts", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "30,001 columns; at most 500" in response.json()["file"][0]
    assert not Contact.objects.exists()
