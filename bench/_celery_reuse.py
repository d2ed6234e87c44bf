"""The project's Celery app with database connections kept across tasks (`--db-reuse` of bench/send.py).

Celery's Django fixup closes every database connection before and after each task unless CELERY_DB_REUSE_MAX
is set, so by default each page task opens a new PostgreSQL connection (a backend fork, authentication and cold
catalog caches: most of a page's database cost). This is the change proposed for config/ (setting + signal),
applied here so the benchmark can measure it without editing config/.
"""

from __future__ import annotations

from typing import Any

from celery.signals import task_postrun

from config.celery import app

# The fixup reads the old-style key, exactly as a `CELERY_DB_REUSE_MAX` Django setting would provide it.
app.conf.update({"CELERY_DB_REUSE_MAX": 1000})


@task_postrun.connect
def _close_unusable_connections(**kwargs: Any) -> None:
    # Reused connections still honour CONN_MAX_AGE and are dropped once broken (a database restart).
    from django.db import close_old_connections

    close_old_connections()


__all__ = ["app"]
