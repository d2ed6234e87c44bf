"""Tests: the real PostgreSQL and Redis from DATABASE_URL / REDIS_URL (see .ci/run)."""

from __future__ import annotations

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
