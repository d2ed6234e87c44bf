"""Dashboard pages: list, detail, form with the live cron preview, actions, and the roles."""

from __future__ import annotations

import pytest
from django.urls import reverse

from automations.models import Automation, AutomationRun

pytestmark = pytest.mark.django_db


def _form(segment, template, **kwargs):  # type: ignore[no-untyped-def]
    return {
        "name": "Digest",
        "segment": segment.pk,
        "template": template.pk,
        "mode": "weekly",
        "at_time": "09:30",
        "weekdays": ["1", "2", "3", "4", "5"],
        "cron": "30 9 * * 1-5",
        "timezone": "UTC",
        "is_active": "on",
    } | kwargs


def test_the_list_searches_and_filters(client, viewer, automation) -> None:
    client.force_login(viewer)

    found = client.get(reverse("automations:list"), {"search": "weekday", "status": "active"})
    missed = client.get(reverse("automations:list"), {"status": "paused"})

    assert automation.name in found.content.decode()
    assert automation.name not in missed.content.decode()
    assert "At 09:30, Monday through Friday" in found.content.decode()


def test_the_nav_links_to_automations(client, viewer) -> None:
    client.force_login(viewer)

    assert reverse("automations:list") in client.get(reverse("automations:list")).content.decode()


def test_the_detail_shows_the_schedule_next_runs_and_runs(client, viewer, automation, frozen) -> None:
    from automations import services

    services.automation_run_now(automation_id=automation.pk)
    client.force_login(viewer)

    page = client.get(reverse("automations:detail", args=[automation.pk])).content.decode()

    assert "At 09:30, Monday through Friday" in page
    assert "Next runs" in page
    assert 'value="run"' not in page  # a Viewer sees no buttons
    assert page.count("<tr>") >= 2


def test_a_manager_creates_an_automation_from_the_form(client, manager, segment, template) -> None:
    client.force_login(manager)

    response = client.post(reverse("automations:create"), _form(segment, template))

    automation = Automation.objects.get()
    assert response.status_code == 302
    assert (automation.cron, automation.created_by) == ("30 9 * * 1-5", manager)


def test_the_form_shows_the_services_message_on_the_field(client, manager, segment, template) -> None:
    client.force_login(manager)

    response = client.post(reverse("automations:create"), _form(segment, template, cron="0 9 * * 7"))

    assert response.status_code == 200
    assert "use 0 for Sunday" in response.content.decode()
    assert not Automation.objects.exists()


def test_the_edit_form_is_prefilled_from_the_expression(client, manager, automation) -> None:
    client.force_login(manager)

    page = client.get(reverse("automations:edit", args=[automation.pk])).content.decode()

    assert 'value="weekly" selected' in page
    assert 'value="09:30"' in page


def test_the_live_preview_fills_the_expression_from_the_builder(client, manager, segment, template) -> None:
    client.force_login(manager)
    data = _form(segment, template, mode="daily", at_time="07:15", cron="", source="builder")

    page = client.post(reverse("automations:cron-preview"), data).content.decode()

    assert 'value="15 7 * * *"' in page
    assert "At 07:15" in page
    assert page.count("<li>") == 5


def test_the_live_preview_prefills_the_builder_from_the_expression(client, manager, segment, template) -> None:
    client.force_login(manager)
    data = _form(segment, template, mode="daily", cron="0 9 1 * *", source="expression")

    page = client.post(reverse("automations:cron-preview"), data).content.decode()

    assert 'value="monthly" selected' in page
    assert "At 09:00, on day 1 of the month" in page


def test_the_live_preview_says_custom_and_names_the_bad_part(client, manager, segment, template) -> None:
    client.force_login(manager)

    custom = client.post(
        reverse("automations:cron-preview"), _form(segment, template, cron="0 9-17 * * *", source="expression")
    ).content.decode()
    bad = client.post(
        reverse("automations:cron-preview"), _form(segment, template, cron="0 9 * * 9", source="expression")
    ).content.decode()

    assert 'id="cron-custom"' in custom and 'value="custom" selected' in custom
    assert "day of week field" in bad


def test_the_pages_have_no_inline_script_or_event_handler(client, manager, automation) -> None:
    import re

    client.force_login(manager)
    for url in (
        reverse("automations:list"),
        reverse("automations:create"),
        reverse("automations:edit", args=[automation.pk]),
        reverse("automations:detail", args=[automation.pk]),
    ):
        page = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), url
        assert not re.search(r"\son[a-z]+=", page), url


def test_a_manager_pauses_resumes_runs_and_deletes(client, manager, automation, frozen) -> None:
    client.force_login(manager)
    url = reverse("automations:action", args=[automation.pk])

    client.post(url, {"action": "pause"})
    automation.refresh_from_db()
    assert automation.is_active is False
    client.post(url, {"action": "resume"})
    automation.refresh_from_db()
    assert automation.is_active is True
    client.post(url, {"action": "run"})
    assert AutomationRun.objects.count() == 1
    client.post(url, {"action": "delete"})
    assert not Automation.objects.exists()


def test_a_viewer_cannot_change_anything(client, viewer, automation, segment, template) -> None:
    client.force_login(viewer)

    assert client.get(reverse("automations:create")).status_code == 403
    assert client.post(reverse("automations:create"), _form(segment, template)).status_code == 403
    assert client.get(reverse("automations:edit", args=[automation.pk])).status_code == 403
    assert client.post(reverse("automations:action", args=[automation.pk]), {"action": "run"}).status_code == 403
    assert not AutomationRun.objects.exists()


def test_pages_need_a_login(client, automation) -> None:
    response = client.get(reverse("automations:detail", args=[automation.pk]))

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_form_says_why_a_template_without_an_unsubscribe_link_cannot_be_activated(client, manager, segment) -> None:
    from tests.automations.conftest import make_template

    bare = make_template(message="<p>Hello {{ first_name|default:'there' }}</p>")
    client.force_login(manager)

    response = client.post(reverse("automations:create"), _form(segment, bare))

    page = response.content.decode()
    assert response.status_code == 200
    assert "cannot be activated" in page and "unsubscribe_url" in page and "all 3 contacts" in page
    assert not Automation.objects.exists()


def _send_all(send_id: int) -> None:
    from delivery import services as delivery_services
    from delivery.models import Send

    for page in range(Send.objects.get(pk=send_id).pages):
        delivery_services.page_send(send_id=send_id, page=page)


def test_the_runs_history_links_to_each_runs_progress(client, viewer, automation, frozen) -> None:
    from automations import services

    run = services.automation_run_now(automation_id=automation.pk).run
    assert run is not None
    client.force_login(viewer)

    page = client.get(reverse("automations:detail", args=[automation.pk])).content.decode()

    assert reverse("automations:run-detail", args=[automation.pk, run.pk]) in page


def test_a_sending_runs_progress_polls_and_shows_the_sends_counts(client, viewer, automation, frozen) -> None:
    from automations import services

    run = services.automation_fire(automation_id=automation.pk).run
    assert run is not None
    client.force_login(viewer)

    page = client.get(reverse("automations:run-detail", args=[automation.pk, run.pk])).content.decode()
    fragment = client.get(reverse("automations:run-progress", args=[automation.pk, run.pk]))

    poll = reverse("automations:run-progress", args=[automation.pk, run.pk])
    assert f'hx-get="{poll}"' in page and 'hx-trigger="every 1s"' in page
    assert '<strong id="run-sent">0</strong> / <span id="run-total">3</span> sent' in page
    assert fragment.status_code == 200
    assert 'id="run-progress"' in fragment.content.decode()


def test_a_finished_runs_progress_shows_its_counts_and_stops_polling(
    client, viewer, automation, frozen, django_capture_on_commit_callbacks
) -> None:
    from automations import services

    with django_capture_on_commit_callbacks(execute=True):
        run = services.automation_fire(automation_id=automation.pk).run
    assert run is not None
    with django_capture_on_commit_callbacks(execute=True):
        _send_all(run.send_id)  # type: ignore[arg-type]
    client.force_login(viewer)

    page = client.get(reverse("automations:run-progress", args=[automation.pk, run.pk])).content.decode()

    assert "hx-get" not in page
    assert '<strong id="run-sent">3</strong> / <span id="run-total">3</span> sent' in page
    assert "100%" in page and "Sent" in page


def test_a_skipped_runs_page_says_why(client, viewer, automation, frozen) -> None:
    import datetime as dt

    from automations import services
    from tests.automations.conftest import NOW

    services.automation_run(automation_id=automation.pk, due_at=NOW - dt.timedelta(minutes=5))
    skipped = services.automation_run(automation_id=automation.pk, due_at=NOW).run
    assert skipped is not None
    client.force_login(viewer)

    page = client.get(reverse("automations:run-detail", args=[automation.pk, skipped.pk])).content.decode()

    assert "previous run still sending" in page and "Nothing was sent" in page
    assert "hx-get" not in page


def test_a_run_under_another_automations_url_is_404(client, viewer, automation, segment, template, frozen) -> None:
    from automations import services
    from tests.automations.conftest import make_automation

    other = make_automation(segment, template, name="Other")
    run = services.automation_run_now(automation_id=automation.pk).run
    assert run is not None
    client.force_login(viewer)

    assert client.get(reverse("automations:run-detail", args=[other.pk, run.pk])).status_code == 404
    assert client.get(reverse("automations:run-progress", args=[other.pk, run.pk])).status_code == 404
