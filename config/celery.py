from __future__ import annotations

import contextlib
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("herald")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_broker_folders() -> None:
    from django.conf import settings

    if str(settings.CELERY_BROKER_URL).startswith("filesystem"):
        for folder in ("out", "processed", "control"):
            (settings.BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)


# Settings may not be configurable during some tooling (mypy), so this stays best effort.
with contextlib.suppress(Exception):
    _ensure_broker_folders()
