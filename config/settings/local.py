"""The embedded default: SQLite, filesystem broker, outbox email; nothing to install but Python."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
