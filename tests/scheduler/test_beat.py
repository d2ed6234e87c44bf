"""scheduler.beat.HeraldScheduler: django-celery-beat's DatabaseScheduler with the time zones read once each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from celery.utils.imports import symbol_by_name
from django.conf import settings
from django_celery_beat.models import CrontabSchedule
from django_celery_beat.schedulers import DatabaseScheduler

from automations import services
from config.celery import app
from scheduler.beat import HeraldScheduler
from tests.automations.conftest import make_contacts, make_segment, make_template

pytestmark = pytest.mark.django_db

# 09:30 UTC: django-celery-beat loads numeric-hour crontabs within two hours of the server's hour (UTC here).
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]
CRONS = ["30 9 * * 1-5", "0 10 * * *", "15 8 * * *", "0 3 * * *", "45 20 * * 0", "*/15 * * * *", "5 * 1 * *"]


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def automations_in_several_zones(frozen: None) -> None:
    segment, template = make_segment(make_contacts(1)), make_template()
    for zone in ZONES:
        for i, cron in enumerate(CRONS):
            services.automation_create(name=f"{zone} {i}", segment=segment, template=template, cron=cron, timezone=zone)


def _loaded(scheduler_class: type[DatabaseScheduler]) -> dict[str, Any]:
    schedule: dict[str, Any] = scheduler_class(app=app, lazy=True).all_as_schedule()
    return schedule


def test_beat_is_configured_with_herald_scheduler() -> None:
    assert symbol_by_name(settings.CELERY_BEAT_SCHEDULER) is HeraldScheduler


def test_herald_schedule_equals_the_stock_schedule_for_automations_in_several_zones(
    automations_in_several_zones: None,
) -> None:
    herald, stock = _loaded(HeraldScheduler), _loaded(DatabaseScheduler)

    assert sorted(herald) == sorted(stock)
    assert {name: entry.schedule for name, entry in herald.items()} == {
        name: entry.schedule for name, entry in stock.items()
    }
    # The hour exclusion is exercised: some automations are not due around 09:30 UTC and neither loads them.
    assert 0 < sum(name.startswith("automation-") for name in herald) < len(ZONES) * len(CRONS)


def test_herald_reads_each_crontab_zone_once(automations_in_several_zones: None) -> None:
    zones = [str(zone) for zone in HeraldScheduler(app=app, lazy=True)._get_unique_timezone_names()]

    assert sorted(zones) == sorted({str(zone) for zone in CrontabSchedule.objects.values_list("timezone", flat=True)})


def test_entries_of_one_crontab_shape_share_one_parsed_schedule(frozen: None) -> None:
    segment, template = make_segment(make_contacts(1)), make_template()
    a, b, other = (
        services.automation_create(name=name, segment=segment, template=template, cron=cron, timezone="UTC")
        for name, cron in (("a", "0 10 * * *"), ("b", "0 10 * * *"), ("other", "0 10 * * 1"))
    )

    schedule = _loaded(HeraldScheduler)

    assert schedule[a.periodic_task_name].schedule is schedule[b.periodic_task_name].schedule
    assert schedule[other.periodic_task_name].schedule is not schedule[a.periodic_task_name].schedule
