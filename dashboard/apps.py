from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The home page at `/` and the calendar: the top of the layers, reading every app through its selectors; no
    app imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard"
