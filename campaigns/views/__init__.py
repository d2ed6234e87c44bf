"""Dashboard pages of campaigns and scenarios (seeds 000, 002, 004), cut in two: `campaigns.py` (campaigns,
history, the quick wizard) and `scenarios.py` (scenarios and their live state). `campaigns/urls.py` names them
from here."""

from __future__ import annotations

from campaigns.views.campaigns import (
    campaign_create,
    campaign_detail,
    campaign_edit,
    campaign_list,
    campaign_upload,
    history,
    quick_campaign,
)
from campaigns.views.scenarios import (
    scenario_action,
    scenario_create,
    scenario_detail,
    scenario_edit,
    scenario_list,
    scenario_progress,
    scenario_progress_of,
    scenario_test_send,
    send_now_confirmation,
)

__all__ = [
    "campaign_create",
    "campaign_detail",
    "campaign_edit",
    "campaign_list",
    "campaign_upload",
    "history",
    "quick_campaign",
    "scenario_action",
    "scenario_create",
    "scenario_detail",
    "scenario_edit",
    "scenario_list",
    "scenario_progress",
    "scenario_progress_of",
    "scenario_test_send",
    "send_now_confirmation",
]
