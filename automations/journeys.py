"""Writes of journeys (issue 16): definition, lifecycle, enrollment, triggers and the engine the tick runs.

The code lives in sibling modules; this module re-exports every name, so `automations.journeys.xxx` (callers,
SCHEDULER_TICK_HOOKS and CONTACT_EVENT_HOOKS in settings) stays the one entry point:

- `journey_definition`: the steps JSON both ways, shape validation, the activation check;
- `journey_lifecycle`: create, update, activate, pause, archive, cancel an enrollment;
- `journey_enrollment`: the API trigger, re-entry, and the contact-event trigger (`journeys_on_new_rows`);
- `journey_engine`: the tick (`journeys_tick`, `journeys_advance`): claim, walk, branches, sends.
"""

from __future__ import annotations

from automations.journey_definition import (
    GOAL_TYPES,
    TRIGGER_TYPES,
    ActivationCheck,
    JourneyStateError,
    _condition_problem,
    _edges,
    _following,
    _loop_without_wait,
    _parse_steps,
    _parse_time,
    _step_from_json,
    _template_problems,
    _validate_shape,
    _zone,
    journey_activation_check,
    steps_to_json,
)
from automations.journey_engine import (
    DEFAULT_BATCH,
    DEFAULT_BUDGET_SECONDS,
    MAX_HOPS,
    E,
    J,
    O,
    S,
    _branch_yes,
    _claim,
    _engine,
    _exit_contacts,
    _hand_sends,
    _Walk,
    _walk_round,
    journeys_advance,
    journeys_tick,
    logger,
    next_time_of_day,
)
from automations.journey_enrollment import (
    _enroll_rows,
    _first_key,
    _reentry_reason,
    journey_enroll,
    journeys_on_new_rows,
)
from automations.journey_lifecycle import (
    JOURNEY_FIELDS,
    _save_steps,
    enrollment_cancel,
    journey_activate,
    journey_archive,
    journey_create,
    journey_pause,
    journey_update,
)

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_BUDGET_SECONDS",
    "GOAL_TYPES",
    "JOURNEY_FIELDS",
    "MAX_HOPS",
    "TRIGGER_TYPES",
    "ActivationCheck",
    "E",
    "J",
    "JourneyStateError",
    "O",
    "S",
    "_Walk",
    "_branch_yes",
    "_claim",
    "_condition_problem",
    "_edges",
    "_engine",
    "_enroll_rows",
    "_exit_contacts",
    "_first_key",
    "_following",
    "_hand_sends",
    "_loop_without_wait",
    "_parse_steps",
    "_parse_time",
    "_reentry_reason",
    "_save_steps",
    "_step_from_json",
    "_template_problems",
    "_validate_shape",
    "_walk_round",
    "_zone",
    "enrollment_cancel",
    "journey_activate",
    "journey_activation_check",
    "journey_archive",
    "journey_create",
    "journey_enroll",
    "journey_pause",
    "journey_update",
    "journeys_advance",
    "journeys_on_new_rows",
    "journeys_tick",
    "logger",
    "next_time_of_day",
    "steps_to_json",
]
