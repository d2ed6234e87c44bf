"""Writes of automations: the row and its django-celery-beat PeriodicTask change together, and each firing is
one AutomationRun handing one Send to the delivery engine.

In step with beat: every write below saves the Automation and its PeriodicTask (+ CrontabSchedule in the
automation's zone) in ONE transaction, through the models' save()/delete() so django-celery-beat's own signals
bump `PeriodicTasks.last_update` and a running beat reloads its schedule without a restart.

Exactly once per due time: `automation_run` INSERTs the AutomationRun first; the unique (automation, due_at)
makes a second firing of the same due time (beat twice, a retried task, `run_automation --at`, a button) fail
that INSERT and change nothing. Runs of one automation are serialised by a lock on the Automation row, so
"is the previous run still sending?" cannot be answered by two firings at once.

The package is split along those seams; every name is importable from here, as callers (and the dotted hook path
"automations.services.automations_catch_up") expect:

- `validation`: the field checks and the activation (pre-send) check;
- `beat`: the PeriodicTask sync and `automations_refresh`;
- `lifecycle`: create / update / pause / resume / delete, and pausing for a deleted segment or template;
- `runs`: firing, skips, and the engine's send events;
- `catch_up`: firings missed while beat was down;
- `notifications`: telling the creator.

`_audience` is called through this package (`services._audience`), so patching it here reaches every caller.
"""

from __future__ import annotations

from automations.services.beat import (
    TASK,
    TASK_PREFIX,
    RefreshReport,
    _crontab,
    _remove_task,
    _start_time,
    _sync_task,
    _task_values,
    automations_refresh,
)
from automations.services.catch_up import (
    _SEEN_KEY,
    _SWEEP_LOCK,
    CATCH_UP_MAX_FIRINGS,
    CATCH_UP_SILENCE,
    CatchUpReport,
    automations_catch_up,
    automations_sweep_missed,
)
from automations.services.lifecycle import (
    AUTOMATION_FIELDS,
    _lock,
    automation_create,
    automation_delete,
    automation_pause,
    automation_resume,
    automation_update,
    automations_pause_for_deleted,
)
from automations.services.notifications import _automation_url, _notify, _notify_run
from automations.services.runs import (
    DEFAULT_CATCHUP_MINUTES,
    SKIP_MISSED,
    SKIP_PREVIOUS,
    R,
    RunResult,
    _catchup,
    _engine,
    _fail,
    _skip,
    _start,
    automation_fire,
    automation_run,
    automation_run_now,
    on_send_event,
)
from automations.services.validation import (
    WHATSAPP_REFUSED,
    AutomationStateError,
    _audience,
    _validate,
    automation_activation_problems,
    automation_validate,
)

__all__ = [
    "AUTOMATION_FIELDS",
    "CATCH_UP_MAX_FIRINGS",
    "CATCH_UP_SILENCE",
    "DEFAULT_CATCHUP_MINUTES",
    "SKIP_MISSED",
    "SKIP_PREVIOUS",
    "TASK",
    "TASK_PREFIX",
    "WHATSAPP_REFUSED",
    "_SEEN_KEY",
    "_SWEEP_LOCK",
    "AutomationStateError",
    "CatchUpReport",
    "R",
    "RefreshReport",
    "RunResult",
    "_audience",
    "_automation_url",
    "_catchup",
    "_crontab",
    "_engine",
    "_fail",
    "_lock",
    "_notify",
    "_notify_run",
    "_remove_task",
    "_skip",
    "_start",
    "_start_time",
    "_sync_task",
    "_task_values",
    "_validate",
    "automation_activation_problems",
    "automation_create",
    "automation_delete",
    "automation_fire",
    "automation_pause",
    "automation_resume",
    "automation_run",
    "automation_run_now",
    "automation_update",
    "automation_validate",
    "automations_catch_up",
    "automations_pause_for_deleted",
    "automations_refresh",
    "automations_sweep_missed",
    "on_send_event",
]
