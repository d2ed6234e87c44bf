"""The project's Celery app (`--db-reuse` of bench/send.py).

Database connections kept across tasks (CELERY_DB_REUSE_MAX + close_old_connections after each task) used to be
applied only here; they are now the default in config/celery.py, so both names run the same app.
"""

from __future__ import annotations

from config.celery import app

__all__ = ["app"]
