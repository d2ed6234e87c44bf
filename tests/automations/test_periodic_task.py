"""Every write keeps the automation's django-celery-beat PeriodicTask in step, in the same transaction."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from automations import services
from automations.models import Automation
from tests.automations.conftest import make_automation, make_template

pytestmark = pytest.mark.django_db


def _task(automation: Automation) -> PeriodicTask:
    return PeriodicTask.objects.select_related("crontab").get(name=automation.periodic_task_name)


def test_create_makes_an_enabled_periodic_task_in_the_automations_zone(segment, template) -> None:
    automation = make_automation(segment, template, cron="30 9 * * 1-5", timezone="Europe/Paris")

    task = _task(automation)
    assert task.task == "automations.tasks.automation_fire_task"
    assert json.loads(task.args) == [automation.pk]
    assert task.enabled is True
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "9", "1-5")
    assert (task.crontab.day_of_month, task.crontab.month_of_year) == ("*", "*")
    assert str(task.crontab.timezone) == "Europe/Paris"


def test_edit_of_the_cron_and_zone_moves_the_periodic_task(automation) -> None:
    services.automation_update(automation=automation, cron="0 */2 * * *", timezone="Asia/Tokyo")

    task = _task(automation)
    assert (task.crontab.minute, task.crontab.hour) == ("0", "*/2")
    assert str(task.crontab.timezone) == "Asia/Tokyo"


def test_pause_disables_and_resume_enables_the_periodic_task(automation) -> None:
    services.automation_pause(automation_id=automation.pk, reason="Holidays")
    assert _task(automation).enabled is False
    automation.refresh_from_db()
    assert (automation.is_active, automation.paused_reason) == (False, "Holidays")

    services.automation_resume(automation_id=automation.pk)
    assert _task(automation).enabled is True
    automation.refresh_from_db()
    assert (automation.is_active, automation.paused_reason) == (True, "")


def test_delete_removes_the_periodic_task(automation) -> None:
    services.automation_delete(automation_id=automation.pk)

    assert not PeriodicTask.objects.filter(name=automation.periodic_task_name).exists()
    assert not Automation.objects.filter(pk=automation.pk).exists()


def test_a_refused_edit_leaves_row_and_periodic_task_unchanged(automation) -> None:
    with pytest.raises(ValidationError):
        services.automation_update(automation=automation, cron="0 9 * * *", timezone="Mars/Olympus")

    automation.refresh_from_db()
    assert automation.cron == "30 9 * * 1-5"
    assert _task(automation).crontab.hour == "9" and _task(automation).crontab.minute == "30"


def test_start_date_becomes_the_periodic_tasks_start_time(segment, template) -> None:
    import datetime as dt

    automation = make_automation(segment, template, timezone="Europe/Paris", start_date=dt.date(2027, 1, 4))

    assert _task(automation).start_time == dt.datetime(2027, 1, 3, 23, 0, tzinfo=dt.UTC)


def test_a_whatsapp_template_is_refused_with_a_clear_message(segment) -> None:
    whatsapp = make_template(channel="whatsapp", message="Hello {{ first_name }}")

    with pytest.raises(ValidationError) as info:
        make_automation(segment, whatsapp)

    assert info.value.message_dict["template"] == [services.WHATSAPP_REFUSED]
    assert not PeriodicTask.objects.filter(name__startswith="automation-").exists()


def test_a_template_failing_the_pre_send_check_cannot_be_activated(segment) -> None:
    broken = make_template(message="<p>Hi {{ attributes.city }}</p>")

    with pytest.raises(ValidationError) as info:
        make_automation(segment, broken)

    message = info.value.message_dict["template"][0]
    assert "cannot be activated" in message and "attributes.city" in message and "a0@example.com" in message


def test_a_template_failing_the_check_may_be_saved_paused(segment) -> None:
    broken = make_template(message="<p>Hi {{ attributes.city }}</p>")

    automation = make_automation(segment, broken, is_active=False)

    assert _task(automation).enabled is False
    with pytest.raises(ValidationError):
        services.automation_resume(automation_id=automation.pk)


@pytest.mark.parametrize(
    ("cron", "part"),
    [("61 * * * *", "minute"), ("0 25 * * *", "hour"), ("0 9 * * 8", "day of week"), ("0 9 * 13 *", "month")],
)
def test_an_invalid_cron_is_refused_naming_the_bad_part(segment, template, cron, part) -> None:
    with pytest.raises(ValidationError) as info:
        make_automation(segment, template, cron=cron)

    assert part in info.value.message_dict["cron"][0]


def test_end_before_start_is_refused(segment, template) -> None:
    import datetime as dt

    with pytest.raises(ValidationError) as info:
        make_automation(segment, template, start_date=dt.date(2027, 2, 1), end_date=dt.date(2027, 1, 1))

    assert "end_date" in info.value.message_dict


def test_deleting_its_segment_pauses_the_automation_and_tells_its_creator(automation, segment) -> None:
    from accounts.models import Notification

    segment.delete()

    automation.refresh_from_db()
    assert automation.is_active is False
    assert "Members" in automation.paused_reason
    assert _task(automation).enabled is False
    assert Notification.objects.filter(user=automation.created_by, title__startswith="Paused").exists()


NO_UNSUBSCRIBE = '<p>Hello {{ first_name|default:"there" }}</p>'


def test_a_template_without_an_unsubscribe_link_cannot_be_activated(segment) -> None:
    bare = make_template(message=NO_UNSUBSCRIBE)

    with pytest.raises(ValidationError) as info:
        make_automation(segment, bare)

    message = info.value.message_dict["template"][0]
    assert "cannot be activated" in message and "unsubscribe_url" in message and "all 3 contacts" in message
    assert not PeriodicTask.objects.filter(name__startswith="automation-").exists()


def test_a_paused_automation_without_an_unsubscribe_link_cannot_be_resumed(segment) -> None:
    automation = make_automation(segment, make_template(message=NO_UNSUBSCRIBE), is_active=False)

    with pytest.raises(ValidationError) as info:
        services.automation_resume(automation_id=automation.pk)

    assert "unsubscribe_url" in " ".join(info.value.messages)
    assert _task(automation).enabled is False


def test_the_scenarios_pre_send_check_still_only_warns_without_an_unsubscribe_link(segment) -> None:
    from templates_app import services as template_services

    report = template_services.template_check(template=make_template(message=NO_UNSUBSCRIBE))

    assert report.ok and report.problems == []
    assert any("unsubscribe_url" in warning for warning in report.warnings)
