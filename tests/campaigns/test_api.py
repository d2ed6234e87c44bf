from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import Campaign, Emailer, Scenario
from delivery.models import Send
from tests.campaigns.clock import TODAY
from tests.factories import ContactFactory, add_to_batch
from tests.scheduler.fake_engine import FakeEngine

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def _campaign_body(**kwargs: Any) -> dict[str, Any]:
    return {
        "name": "Winter",
        "start_date": str(TODAY),
        "end_date": str(TODAY + dt.timedelta(days=10)),
        "timezone": "UTC",
        **kwargs,
    }


def _campaign(api: APIClient) -> dict[str, Any]:
    response = api.post("/api/v1/campaigns", _campaign_body(), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _scenario(api: APIClient, campaign_id: int, **kwargs: Any) -> dict[str, Any]:
    body = {
        "campaign": campaign_id,
        "subject": "Hello",
        "content": "Hi {{ first_name }}",
        "send_date": str(TODAY),
        "send_time": "12:00",
        **kwargs,
    }
    response = api.post("/api/v1/scenarios", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_campaign_creates_its_batch(api: APIClient, manager: Any) -> None:
    body = _campaign(api)
    campaign = Campaign.objects.get(pk=body["id"])
    assert body["batch"] == campaign.batch_id
    assert (body["batch_size"], body["created_by"]) == (0, manager.username)


def test_campaign_end_before_start_is_400_with_the_field(api: APIClient) -> None:
    response = api.post("/api/v1/campaigns", _campaign_body(end_date=str(TODAY - dt.timedelta(days=1))), format="json")
    assert response.status_code == 400
    assert "end_date" in response.json()
    assert not Campaign.objects.exists()


def test_campaign_list_is_paginated_and_filtered(api: APIClient) -> None:
    _campaign(api)
    api.post("/api/v1/campaigns", _campaign_body(name="Paused one", status="paused"), format="json")
    body = api.get("/api/v1/campaigns?status=paused").json()
    assert body["count"] == 1
    assert [c["name"] for c in body["results"]] == ["Paused one"]


def test_patch_campaign(api: APIClient) -> None:
    campaign = _campaign(api)
    response = api.patch(f"/api/v1/campaigns/{campaign['id']}", {"description": "Seasonal"}, format="json")
    assert response.status_code == 200
    assert Campaign.objects.get(pk=campaign["id"]).description == "Seasonal"


def test_viewer_can_read_but_not_create(viewer_api: APIClient, api: APIClient) -> None:
    _campaign(api)
    assert viewer_api.get("/api/v1/campaigns").status_code == 200
    assert viewer_api.post("/api/v1/campaigns", _campaign_body(), format="json").status_code == 403
    assert Campaign.objects.count() == 1


def test_viewer_cannot_send(viewer_api: APIClient, api: APIClient) -> None:
    scenario = _scenario(api, _campaign(api)["id"])
    assert viewer_api.post(f"/api/v1/scenarios/{scenario['id']}/send", {}, format="json").status_code == 403


def test_anonymous_gets_401(client: Any) -> None:
    assert client.get("/api/v1/campaigns").status_code in (401, 403)


def test_create_scenario_is_scheduled_and_planned(api: APIClient) -> None:
    body = _scenario(api, _campaign(api)["id"])
    assert body["status"] == "scheduled"
    assert body["scheduled_at"] == "2026-11-23T12:00:00Z"
    assert Emailer.objects.filter(scenario_id=body["id"], active=True).exists()


def test_scenario_outside_the_timeline_is_400(api: APIClient) -> None:
    campaign = _campaign(api)
    response = api.post(
        "/api/v1/scenarios",
        {
            "campaign": campaign["id"],
            "subject": "Late",
            "content": "x",
            "send_date": str(TODAY + dt.timedelta(days=60)),
            "send_time": "09:00",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "timeline" in response.json()["send_date"][0]
    assert not Scenario.objects.exists()


def test_patch_of_a_scheduled_scenario_changes_it(api: APIClient) -> None:
    scenario = _scenario(api, _campaign(api)["id"])
    response = api.patch(f"/api/v1/scenarios/{scenario['id']}", {"subject": "New subject"}, format="json")
    assert response.status_code == 200
    assert Scenario.objects.get(pk=scenario["id"]).subject == "New subject"


def test_patch_of_a_sent_scenario_is_409_with_the_reason(api: APIClient) -> None:
    scenario = _scenario(api, _campaign(api)["id"])
    Scenario.objects.filter(pk=scenario["id"]).update(status=Scenario.Status.SENT)
    response = api.patch(f"/api/v1/scenarios/{scenario['id']}", {"subject": "Too late"}, format="json")
    assert response.status_code == 409
    assert "only draft or scheduled" in response.json()["detail"]
    assert Scenario.objects.get(pk=scenario["id"]).subject == "Hello"


def test_scenario_list_filters_by_campaign_and_status(api: APIClient) -> None:
    first = _campaign(api)
    other = _campaign(api)
    _scenario(api, first["id"])
    _scenario(api, other["id"], draft=True)
    body = api.get(f"/api/v1/scenarios?campaign={other['id']}&status=draft").json()
    assert body["count"] == 1
    assert body["results"][0]["campaign"] == other["id"]


def test_send_now_answers_sending(api: APIClient, engine: FakeEngine) -> None:
    scenario = _scenario(api, _campaign(api)["id"], draft=True)
    response = api.post(f"/api/v1/scenarios/{scenario['id']}/send", {"at": None}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "sending"


def test_send_at_a_time_schedules(api: APIClient) -> None:
    scenario = _scenario(api, _campaign(api)["id"], draft=True)
    response = api.post(f"/api/v1/scenarios/{scenario['id']}/send", {"at": "2026-11-24T08:30:00Z"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["scheduled_at"]) == ("scheduled", "2026-11-24T08:30:00Z")


def test_pause_of_a_scheduled_scenario_is_409(api: APIClient) -> None:
    scenario = _scenario(api, _campaign(api)["id"])
    response = api.post(f"/api/v1/scenarios/{scenario['id']}/pause")
    assert response.status_code == 409
    assert "Only a sending scenario" in response.json()["detail"]


def test_lifecycle_actions_and_progress(api: APIClient, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    from campaigns import selectors

    campaign = _campaign(api)
    add_to_batch(Campaign.objects.get(pk=campaign["id"]).batch, ContactFactory.create_batch(4))
    scenario = _scenario(api, campaign["id"])
    services.emailer_run(emailer_id=Emailer.objects.get(scenario_id=scenario["id"]).pk)
    send = Send.objects.get()

    class Progress:
        status, reason, total, sent, failed, queued, cancelled = "sending", "", 4, 1, 0, 3, 0
        percent, rate_per_s, eta_seconds, snapshotting = 25.0, 2.0, 1.5, False

    monkeypatch.setattr(selectors, "scenario_progress", lambda *, scenario: Progress())
    paused = api.post(f"/api/v1/scenarios/{scenario['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert api.post(f"/api/v1/scenarios/{scenario['id']}/resume").json()["status"] == "sending"
    detail = api.get(f"/api/v1/scenarios/{scenario['id']}").json()
    assert detail["progress"]["total"] == 4 and detail["progress"]["eta_seconds"] == 1.5
    assert api.post(f"/api/v1/scenarios/{scenario['id']}/cancel").json()["status"] == "cancelled"
    assert engine.names()[-3:] == ["send_pause", "send_resume", "send_cancel"]
    assert engine.calls[-1][1]["send_id"] == send.pk


def test_delete_of_a_draft_scenario(api: APIClient) -> None:
    scenario = _scenario(api, _campaign(api)["id"], draft=True)
    assert api.delete(f"/api/v1/scenarios/{scenario['id']}").status_code == 204
    assert not Scenario.objects.exists()


def test_delete_of_a_campaign_that_sent_is_409(api: APIClient) -> None:
    campaign = _campaign(api)
    scenario = _scenario(api, campaign["id"])
    Scenario.objects.filter(pk=scenario["id"]).update(status=Scenario.Status.SENT)
    assert api.delete(f"/api/v1/campaigns/{campaign['id']}").status_code == 409
    assert Campaign.objects.filter(pk=campaign["id"]).exists()


def test_openapi_schema_generates_and_validates(admin_api: APIClient, tmp_path: Any) -> None:
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in ("/api/v1/campaigns/{id}/contacts/", "/api/v1/scenarios/{id}/send/", "/api/v1/scenarios/{id}/retry/"):
        assert f"{path}:" in text
    assert admin_api.get("/api/schema/").status_code == 200


def test_api_docs_page_is_served(admin_user: Any, client: Any) -> None:
    client.force_login(admin_user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content.lower()


# --- contacts into the campaign's batch ----------------------------------------------------------------------


def _upload(api: APIClient, campaign_id: int, text: str, name: str = "people.csv") -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(name, text.encode(), content_type="text/csv")
    return api.post(f"/api/v1/campaigns/{campaign_id}/contacts", {"file": upload}, format="multipart")


def test_csv_upload_imports_into_the_campaign_batch(api: APIClient) -> None:
    from contacts.models import BatchMember

    campaign = _campaign(api)
    response = _upload(api, campaign["id"], "name,email\nAda Lovelace,ada@example.com\nAlan Turing,alan@example.com\n")
    assert response.status_code == 201, response.content
    assert (response.json()["status"], response.json()["created"]) == ("done", 2)
    assert BatchMember.objects.filter(batch_id=campaign["batch"]).count() == 2
    assert api.get(f"/api/v1/campaigns/{campaign['id']}").json()["batch_size"] == 2


def test_csv_without_an_email_column_is_400_and_changes_nothing(api: APIClient) -> None:
    from contacts.models import BatchMember, Contact

    campaign = _campaign(api)
    response = _upload(api, campaign["id"], "name,phone\nAda,123\n")
    assert response.status_code == 400
    assert "no email column" in response.json()["file"][0]
    assert not Contact.objects.exists()
    assert not BatchMember.objects.exists()


def test_json_list_upload_imports_into_the_campaign_batch(api: APIClient) -> None:
    from contacts.models import Contact

    campaign = _campaign(api)
    response = api.post(
        f"/api/v1/campaigns/{campaign['id']}/contacts",
        [{"email": "grace@example.com", "name": "Grace Hopper"}, {"email": "linus@example.com"}],
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Contact.objects.get(email="grace@example.com").last_name == "Hopper"
    assert response.json()["created"] == 2


def test_json_upload_goes_straight_to_the_merge_without_a_csv(api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from contacts.models import BatchMember, ImportJob

    def no_file_import(**kwargs: Any) -> None:
        raise AssertionError("a JSON upload must not be written as a file and imported again")

    monkeypatch.setattr("contacts.services.import_job_create", no_file_import)
    campaign = _campaign(api)

    response = api.post(
        f"/api/v1/campaigns/{campaign['id']}/contacts",
        [{"email": "Ada@Example.com", "name": "Ada King Lovelace"}, {"email": "alan@example.com"}],
        format="json",
    )

    assert response.status_code == 201, response.content
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.rows_total, job.created, job.errors, job.file.name) == ("done", 2, 2, 0, "")
    assert BatchMember.objects.filter(batch_id=campaign["batch"], import_job=job).count() == 2


def test_json_upload_counts_a_bad_email_as_an_error_of_its_item_like_a_csv_row(api: APIClient) -> None:
    from contacts.models import Contact

    campaign = _campaign(api)

    response = api.post(
        f"/api/v1/campaigns/{campaign['id']}/contacts",
        [{"email": "ok@example.com"}, {"email": "not an email"}, {"email": "OK@example.com", "name": "Again"}],
        format="json",
    )

    body = response.json()
    assert response.status_code == 201, response.content
    assert (body["rows_total"], body["created"], body["skipped"], body["errors"]) == (3, 1, 1, 1)
    assert body["error_report_url"]
    assert Contact.objects.get(email="ok@example.com").first_name == "Again"  # the later item wins, as in a file


def test_json_upload_with_a_row_without_email_is_400(api: APIClient) -> None:
    from contacts.models import Contact

    campaign = _campaign(api)
    response = api.post(
        f"/api/v1/campaigns/{campaign['id']}/contacts", [{"email": "a@example.com"}, {"name": "No mail"}], format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"1": {"email": ["This field is required."]}}  # the item's index, then the field
    assert not Contact.objects.exists()


def test_viewer_cannot_upload_contacts(api: APIClient, viewer_api: APIClient) -> None:
    campaign = _campaign(api)
    assert _upload(viewer_api, campaign["id"], "email\na@example.com\n").status_code == 403


def test_big_csv_upload_is_left_to_a_worker(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr("campaigns.services.campaigns.INLINE_IMPORT_BYTES", 10)
    campaign = _campaign(api)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _upload(api, campaign["id"], "name,email\nAda Lovelace,ada@example.com\n")
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["batch"]) == ("pending", campaign["batch"])
    assert len(callbacks) == 1  # import_job_run_task, once this commits


def test_scenario_list_with_a_malformed_campaign_filter_is_400(api: APIClient) -> None:
    response = api.get("/api/v1/scenarios?campaign=abc")
    assert response.status_code == 400
    assert "campaign" in response.json()


def test_viewer_cannot_patch_or_delete(api: APIClient, viewer_api: APIClient) -> None:
    scenario = _scenario(api, _campaign(api)["id"])
    assert viewer_api.patch(f"/api/v1/scenarios/{scenario['id']}", {"subject": "x"}, format="json").status_code == 403
    assert viewer_api.delete(f"/api/v1/scenarios/{scenario['id']}").status_code == 403
    assert Scenario.objects.get(pk=scenario["id"]).subject == "Hello"
