"""Test settings plus scheduler.routing (for `bench due --routed`)."""

from config.settings.test import *  # noqa: F403

CELERY_TASK_ROUTES = ("scheduler.routing.route_task",)
