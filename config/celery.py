from __future__ import annotations

import contextlib
import os

from celery import Celery
from celery.signals import beat_init, task_postrun

from config import broker

broker.register()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("herald")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fixup closes every database connection before and after each task unless this (old-style) key
# is set, so each page task would open a new PostgreSQL connection: a backend fork, authentication and cold
# catalog caches, most of a page's database cost (2.7x slower sends, docs/benchmarks.md). Keep connections and
# let Django drop the broken or aged ones (CONN_MAX_AGE, CONN_HEALTH_CHECKS) after each task instead.
app.conf.update({"CELERY_DB_REUSE_MAX": 1000})


@task_postrun.connect
def _close_unusable_db_connections(**kwargs: object) -> None:
    from django.db import close_old_connections

    close_old_connections()


@beat_init.connect
def _write_beat_schedule(**kwargs: object) -> None:
    """Beat writes its own two entries (daily plan, tick) from settings when it starts, so a deploy that only
    migrates and starts the processes sends (issue 14: beat used to run nothing until `sync_schedule` was run).
    django-celery-beat notices the change and reloads on its next pass."""
    from scheduler.services import schedule_sync

    schedule_sync()


def _ensure_broker_folders() -> None:
    from django.conf import settings

    if str(settings.CELERY_BROKER_URL).startswith(broker.ALIAS):
        for folder in ("out", "processed", "control"):
            (settings.BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)


# Settings may not be configurable during some tooling (mypy), so this stays best effort.
with contextlib.suppress(Exception):
    _ensure_broker_folders()
