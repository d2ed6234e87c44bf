"""Writes of journeys (issue 16): definition, lifecycle, enrollment, triggers and the engine the tick runs.

The code lives in sibling modules; this module re-exports every name, so `automations.journeys.xxx` (callers,
SCHEDULER_TICK_HOOKS and CONTACT_EVENT_HOOKS in settings) stays the one entry point:

- `journey_definition`: the steps JSON both ways, shape validation, the activation check;
- `journey_lifecycle`: create, update, activate, pause, archive, cancel an enrollment;
- `journey_enrollment`: the API trigger, re-entry, and the contact-event trigger (`journeys_on_new_rows`);
- `journey_engine`: the tick (`journeys_tick`, `journeys_advance`): claim, walk, branches, sends;
- `journey_segment_trigger`: the segment-entry trigger (`journey_segment_check`, `journeys_segment_tick`);
- `journey_simulator`: "what would happen to this contact", through the engine's own walk, sending nothing.
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
    advance_claimed,
    condition_text,
    journeys_advance,
    journeys_tick,
    logger,
    next_time_of_day,
)
from automations.journey_enrollment import (
    LEFT_BY_ITS_PATH,
    _enroll_rows,
    _first_key,
    _reentry_reason,
    blocking_enrollments,
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
from automations.journey_segment_trigger import (
    journey_segment_check,
    journeys_segment_after_write,
    journeys_segment_tick,
)
from automations.journey_simulator import SimulatedStep, Simulation, journey_simulate, simulation_candidates

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_BUDGET_SECONDS",
    "GOAL_TYPES",
    "JOURNEY_FIELDS",
    "LEFT_BY_ITS_PATH",
    "MAX_HOPS",
    "TRIGGER_TYPES",
    "ActivationCheck",
    "E",
    "J",
    "JourneyStateError",
    "O",
    "S",
    "SimulatedStep",
    "Simulation",
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
    "advance_claimed",
    "blocking_enrollments",
    "condition_text",
    "enrollment_cancel",
    "journey_activate",
    "journey_activation_check",
    "journey_archive",
    "journey_create",
    "journey_enroll",
    "journey_pause",
    "journey_segment_check",
    "journey_simulate",
    "journey_update",
    "journeys_advance",
    "journeys_on_new_rows",
    "journeys_segment_after_write",
    "journeys_segment_tick",
    "journeys_tick",
    "logger",
    "next_time_of_day",
    "simulation_candidates",
    "steps_to_json",
]
