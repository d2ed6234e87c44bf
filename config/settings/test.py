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
