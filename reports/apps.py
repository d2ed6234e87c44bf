from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        # A send that finishes gets its report computed at once (the tick refreshes it while events still arrive).
        from delivery import events
        from reports.services import on_send_event

        events.subscribe(on_send_event)
