"""Tests: the real PostgreSQL and Redis from DATABASE_URL / REDIS_URL (see .ci/run)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_TRANSPORT = env("EMAIL_TRANSPORT", default="outbox")
HERALD_BASE_URL = "http://testserver"
MEDIA_ROOT = env.path("HERALD_MEDIA_ROOT", default="/tmp/herald-test-media")
CELERY_TASK_ALWAYS_EAGER = False

# Static files straight from static/ (no collectstatic outside production).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# The throttle counts failed tokens per address in the shared Redis for 10 minutes, across runs: tests that send
# bad tokens from 127.0.0.1 must not throttle the rest of the suite (tests/security sets its own limit).
API_AUTH_FAILURE_LIMIT = env.int("API_AUTH_FAILURE_LIMIT", default=100_000)

# Most tests look at a send right after `send_start` inside their transaction: one-part snapshots unless a test
# (tests/delivery/test_snapshot_parts.py) or the environment asks for two parts.
DELIVERY_SNAPSHOT_FIRST_ROWS = env.int("DELIVERY_SNAPSHOT_FIRST_ROWS", default=0)

# Each test process spools to its own directory (a shared one would let one run ship another's files), and ships by
# hand (`tracking_spool.spool_ship`) so that a test sees its hits move when it says so; tests/delivery/test_tracking_
# spool.py starts the thread itself. bench/tracking.py turns the thread on for its gunicorn.
# (Created at the first hit, so a process that records none leaves nothing behind.)
TRACKING_SPOOL_DIR = Path(
    env("HERALD_TRACKING_SPOOL_DIR", default=str(Path(tempfile.gettempdir()) / f"herald-spool-{os.getpid()}"))
)
TRACKING_SPOOL_SHIPPER = env.bool("TRACKING_SPOOL_SHIPPER", default=False)
