"""Every write to campaigns, scenarios and emailers. Views, the API, admin actions, commands and tasks call these.

Cut along its seams, each name importable from here as before:

    campaigns.py   campaigns: create, edit, delete, complete; their contacts; the quick one-scenario campaign
    scenarios.py   scenarios: create, edit, delete, send or schedule; pause, resume, cancel, retry; test send
    emailers.py    the due-run lifecycle: plan, claim when due, THE dispatch (claim + enqueue on commit), run
    events.py      the `delivery.events` subscriber (the one writer of a Scenario once its send started; the
                   engine redelivers an event a dying process lost, so there is no reconciler)
    scheduling.py  campaigns' plan and tick hooks, named in settings for the scheduler to call

Imports run one way: campaigns → scenarios → emailers; events → campaigns, emailers; scheduling → all. The
engine is reached only through `campaigns.engine.send_engine()` (a typed Protocol).
"""

from __future__ import annotations

from campaigns.services.campaigns import (
    CAMPAIGN_FIELDS,
    INLINE_IMPORT_BYTES,
    STARTED,
    campaign_complete_if_over,
    campaign_contacts_import,
    campaign_contacts_upsert,
    campaign_create,
    campaign_delete,
    campaign_quick_create,
    campaign_update,
    campaign_validate,
    campaigns_complete_ended,
)
from campaigns.services.emailers import (
    EMAILER_STALE_AFTER,
    emailer_dispatch,
    emailer_plan,
    emailer_run,
    emailer_sync,
    emailers_claim_due,
    emailers_notify_upcoming,
    emailers_plan_day,
    emailers_redispatch_stale,
    scenario_notify,
)
from campaigns.services.events import on_send_event
from campaigns.services.scenarios import (
    SCENARIO_ACTIONS,
    SCENARIO_FIELDS,
    ScenarioStateError,
    TestSendError,
    scenario_action,
    scenario_cancel,
    scenario_create,
    scenario_delete,
    scenario_pause,
    scenario_resume,
    scenario_retry_failed,
    scenario_send,
    scenario_test_send,
    scenario_update,
    scenario_validate,
)
from campaigns.services.scheduling import campaigns_plan_day, campaigns_tick

__all__ = [
    "CAMPAIGN_FIELDS",
    "EMAILER_STALE_AFTER",
    "INLINE_IMPORT_BYTES",
    "SCENARIO_ACTIONS",
    "SCENARIO_FIELDS",
    "STARTED",
    "ScenarioStateError",
    "TestSendError",
    "campaign_complete_if_over",
    "campaign_contacts_import",
    "campaign_contacts_upsert",
    "campaign_create",
    "campaign_delete",
    "campaign_quick_create",
    "campaign_update",
    "campaign_validate",
    "campaigns_complete_ended",
    "campaigns_plan_day",
    "campaigns_tick",
    "emailer_dispatch",
    "emailer_plan",
    "emailer_run",
    "emailer_sync",
    "emailers_claim_due",
    "emailers_notify_upcoming",
    "emailers_plan_day",
    "emailers_redispatch_stale",
    "on_send_event",
    "scenario_action",
    "scenario_cancel",
    "scenario_create",
    "scenario_delete",
    "scenario_notify",
    "scenario_pause",
    "scenario_resume",
    "scenario_retry_failed",
    "scenario_send",
    "scenario_test_send",
    "scenario_update",
    "scenario_validate",
]
