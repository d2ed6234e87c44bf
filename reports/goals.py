"""The conversion goal of an owner: its ConversionGoal row, else the settings' defaults."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from automations.report_selectors import journey_goal
from reports.models import ConversionGoal
from reports.owners import Owner, send_owner


@dataclass(frozen=True)
class Goal:
    stage: str
    window_days: int
    custom: bool = False  # False: the defaults from settings

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(days=self.window_days)


def default_goal() -> Goal:
    return Goal(stage=str(settings.HERALD_CONVERSION_STAGE), window_days=int(settings.HERALD_ATTRIBUTION_DAYS))


def owner_goal(*, owner_type: str, owner_id: int) -> Goal:
    """The owner's ConversionGoal; else, for a journey whose goal is a funnel stage, that stage (with the default
    window); else the settings' defaults."""
    row = ConversionGoal.objects.filter(owner_type=owner_type, owner_id=owner_id).first()
    if row is not None:
        return Goal(stage=row.stage, window_days=row.window_days, custom=True)
    default = default_goal()
    if owner_type == ConversionGoal.Owner.JOURNEY:
        goal = journey_goal(journey_id=owner_id)
        if isinstance(goal, dict) and goal.get("type") == "event" and goal.get("to_stage"):
            return Goal(stage=str(goal["to_stage"]), window_days=default.window_days)
    return default


def send_goal(*, send_id: int) -> tuple[Owner | None, Goal]:
    owner = send_owner(send_id=send_id)
    if owner is None:
        return None, default_goal()
    return owner, owner_goal(owner_type=owner.type, owner_id=owner.id)
