"""Herald's celery beat scheduler: django-celery-beat's DatabaseScheduler with its full schedule load fixed.

Every place that starts beat names this class (`CELERY_BEAT_SCHEDULER`, Procfile.dev, docker-compose.yml, the
README, tests/e2e's beat, bench/due.py): `--scheduler scheduler.beat:HeraldScheduler`.

What it changes, and only that: django-celery-beat 2.9 builds its "not due around this hour" exclusion on every
full load (on start, after each change to the PeriodicTasks, every 5 minutes) with one CASE branch per time zone
in use, and reads those zones with `CrontabSchedule.objects.values_list("timezone").distinct()`. The model's
`Meta.ordering` (month, day, weekday, hour, minute, zone) leaks into that SELECT DISTINCT, so it returns one row per
distinct crontab shape rather than per zone: 90 "unique" zones for the one zone 1,000 automations use, and a
90-branch CASE built and compiled by the ORM on every load (docs/benchmarks.md, issue 15). Upstream:
https://github.com/celery/django-celery-beat/issues/947 (open; PR #896 proposes the same `order_by`).
Clearing the ordering gives each zone once; the exclusion, hence the schedule, is the same.

And it reads the tasks as `scheduler.models.BeatTask` (a proxy of PeriodicTask) whose crontab schedule is parsed
once per shape (minute, hour, ..., zone) rather than once per entry on every load: the rest of the load's cost.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django_celery_beat.models import CrontabSchedule
from django_celery_beat.schedulers import DatabaseScheduler

from scheduler.models import BeatTask


class HeraldScheduler(DatabaseScheduler):  # type: ignore[misc]  # django-celery-beat ships no type hints
    """DatabaseScheduler whose hour-exclusion query reads each crontab time zone once, and whose entries share
    one parsed crontab per shape."""

    Model = BeatTask

    def _get_unique_timezone_names(self) -> QuerySet[CrontabSchedule, str]:
        return CrontabSchedule.objects.order_by().values_list("timezone", flat=True).distinct()
