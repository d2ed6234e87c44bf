"""The fixed "now" of the campaigns unit tests (the `frozen` fixture in conftest.py travels there)."""

from __future__ import annotations

import datetime as dt

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
