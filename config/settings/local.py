"""The embedded default: SQLite, filesystem broker, outbox email; nothing to install but Python."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# The links in the emails (tracking pixel, click redirects, unsubscribe, view in browser) point at the server
# `make run` starts, on HERALD_PORT when it is not 8000.
HERALD_BASE_URL = env("HERALD_BASE_URL", default=f"http://127.0.0.1:{env('HERALD_PORT', default='8000')}").rstrip("/")

# One person trying Herald out wants to see a send, an open or a click in the report and the dashboard's totals at
# once (elsewhere: 5 minutes).
REPORTS_STALE_SECONDS = env.int("REPORTS_STALE_SECONDS", default=30)
DASHBOARD_STATS_SECONDS = env.int("DASHBOARD_STATS_SECONDS", default=30)

# Static files straight from static/ (no collectstatic outside production).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# A local single-user install: the sign-in page shows the generated demo login (accounts/context_processors.py).
HERALD_EMBEDDED = True
# ... whose Outbox stands in for the recipients' inboxes, to show tracking at work (docs/tracking.md).
OUTBOX_AS_INBOX = env.bool("OUTBOX_AS_INBOX", default=True)

# A local install: the API docs and schema are public unless turned off.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=True)
