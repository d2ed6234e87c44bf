"""What the engine tells campaigns: the `delivery.events` subscriber, the one writer of a Scenario's status once
its Send exists.

The engine's `Send` is the truth of a run's progress. The Scenario keeps only seed 000's record, which its pages
and the API list and filter by (status, `contacts_served`, `sent_at`), and the Emailer its own (`active`, `sent`,
`started_at`, `finished_at`), each written here once, when the engine says so; the live numbers are read from the
Send (`selectors.scenario_progress`). Nothing repairs them: the engine writes every event with the change it
reports and publishes it again if the process died before publishing (`delivery.services.notices`), so an event
is never lost, only possibly heard twice, which the conditional updates below make harmless.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone as dj_timezone

from accounts.models import Notification
from campaigns.display import subject_label
from campaigns.models import Emailer, Scenario
from campaigns.services.campaigns import campaign_complete_if_over
from campaigns.services.emailers import scenario_notify
from delivery import selectors as delivery_selectors

ScenarioStatus = Scenario.Status
SS = ScenarioStatus


def on_send_event(send_id: int, event: str, reason: str = "") -> None:
    """The `delivery.events` subscriber (registered in CampaignsConfig.ready). Every change is conditional, so a
    repeated event, or one that follows our own pause/cancel, changes nothing and notifies nobody twice.

    `resumed` also comes after a retry of failed recipients: a sent, failed or paused scenario is sending again.
    """
    emailer = Emailer.objects.filter(send_id=send_id).select_related("scenario", "scenario__campaign").first()
    if emailer is None:
        return  # a send of another app (an automation)
    scenario = emailer.scenario
    now = dj_timezone.now()
    label = f"“{subject_label(scenario.subject)}” ({scenario.campaign.name})"
    scenarios = Scenario.objects.filter(pk=scenario.pk)
    with transaction.atomic():
        if event == "started":
            scenarios.filter(status=SS.SCHEDULED).update(status=SS.SENDING, updated_at=now)
            # `started_at` records that campaigns heard the start: the creator is told once, however often the
            # event comes (the engine may publish it again after a crash).
            if Emailer.objects.filter(pk=emailer.pk, started_at__isnull=True).update(started_at=now):
                progress = delivery_selectors.send_progress(send_id=send_id)
                scenario_notify(scenario=scenario, title=f"Sending started: {label}", body=_recipients_text(progress))
        elif event == "finished":
            closed = Emailer.objects.filter(pk=emailer.pk, sent=False).update(active=False, sent=True, finished_at=now)
            counts = delivery_selectors.send_progress(send_id=send_id)
            changed = scenarios.exclude(status__in=(SS.SENT, SS.CANCELLED)).update(
                status=SS.SENT, sent_at=now, contacts_served=counts.sent, updated_at=now
            )
            if closed or changed:
                body = f"{counts.sent} sent" + (f", {counts.failed} failed" if counts.failed else "") + "."
                scenario_notify(
                    scenario=scenario, title=f"Completed: {label}", body=body, level=Notification.Level.SUCCESS
                )
        elif event == "paused":
            if scenarios.filter(status=SS.SENDING).update(status=SS.PAUSED, updated_at=now):
                # We did not ask for it (our own pause moved the status first): the engine paused on its own.
                scenario_notify(
                    scenario=scenario, title=f"Auto-paused: {label}", body=reason, level=Notification.Level.WARNING
                )
        elif event == "resumed":
            scenarios.filter(status__in=(SS.PAUSED, SS.SENT, SS.FAILED)).update(status=SS.SENDING, updated_at=now)
        elif event == "cancelled":
            Emailer.objects.filter(pk=emailer.pk, sent=False).update(active=False, finished_at=now)
            scenarios.filter(status__in=(SS.SENDING, SS.PAUSED, SS.SCHEDULED)).update(
                status=SS.CANCELLED, updated_at=now
            )
        elif event == "failed":
            Emailer.objects.filter(pk=emailer.pk, sent=False).update(active=False, finished_at=now)
            sent = delivery_selectors.send_progress(send_id=send_id).sent
            if scenarios.exclude(status__in=(SS.FAILED, SS.CANCELLED)).update(
                status=SS.FAILED, contacts_served=sent, updated_at=now
            ):
                scenario_notify(
                    scenario=scenario, title=f"Failed: {label}", body=reason, level=Notification.Level.DANGER
                )
        if event in ("finished", "failed", "cancelled"):
            # The campaign's last send ending after its timeline closes the campaign now, not at the next plan.
            campaign_complete_if_over(campaign_id=scenario.campaign_id, now=now)


def _recipients_text(progress: delivery_selectors.SendProgress) -> str:
    """The audience's size, once the engine knows it: a large one is still being written when its first page
    goes out (the two-part snapshot), and its running count is not the audience."""
    if progress.snapshotting:
        return "The first emails are going out while the rest of the audience is prepared."
    return f"{progress.total} recipients."
