"""Writes of campaigns: create, edit, delete, complete, their contacts, and the quick one-scenario campaign."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone as dj_timezone

from campaigns import selectors
from campaigns.models import Campaign, Scenario
from campaigns.services.emailers import emailer_sync
from campaigns.services.scenarios import ScenarioStateError, scenario_create, scenario_send
from contacts import services as contact_services
from contacts.models import Batch, ImportJob

ScenarioStatus = Scenario.Status

# About 20,000 rows of name + email: imported within a request in well under a second or two.
INLINE_IMPORT_BYTES = 1024 * 1024

CAMPAIGN_FIELDS = (
    "name",
    "description",
    "start_date",
    "end_date",
    "timezone",
    "segment",
    "channel",
    "status",
    "track_opens",
    "track_clicks",
)


def _validate_campaign(campaign: Campaign) -> None:
    errors: dict[str, list[str]] = {}
    if not (campaign.name or "").strip():
        errors.setdefault("name", []).append("Give the campaign a name.")
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        errors.setdefault("end_date", []).append("The end date must be on or after the start date.")
    try:
        ZoneInfo(campaign.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.setdefault("timezone", []).append(f"Unknown time zone {campaign.timezone!r}.")
    if errors:
        raise ValidationError(errors)


def _validate_timeline_keeps_scenarios(campaign: Campaign) -> None:
    outside = campaign.scenarios.filter(status__in=Scenario.EDITABLE).exclude(
        send_date__range=(campaign.start_date, campaign.end_date)
    )
    first = outside.order_by("send_date").first()
    if first is not None:
        raise ValidationError(
            {
                "end_date" if first.send_date > campaign.end_date else "start_date": [
                    f"Scenario “{first.subject}” on {first.send_date} would fall outside the new timeline; "
                    "move or cancel it first."
                ]
            }
        )


def campaign_validate(*, campaign: Campaign) -> None:
    """The checks campaign_create/update run, for forms that want the message before saving (the admin)."""
    _validate_campaign(campaign)
    if campaign.pk:
        _validate_timeline_keeps_scenarios(campaign)


@transaction.atomic
def campaign_create(
    *,
    name: str,
    start_date: dt.date,
    end_date: dt.date,
    description: str = "",
    timezone: str = "",
    segment: Any = None,
    channel: str = Campaign.Channel.EMAIL,
    status: str = Campaign.Status.ACTIVE,
    track_opens: bool = True,
    track_clicks: bool = True,
    user: Any = None,
) -> Campaign:
    """A campaign and its batch, in one transaction (seed 000: the batch exists from the start)."""
    campaign = Campaign(
        name=(name or "").strip(),
        description=description,
        start_date=start_date,
        end_date=end_date,
        timezone=timezone or settings.TIME_ZONE,
        segment=segment,
        channel=channel,
        status=status,
        track_opens=track_opens,
        track_clicks=track_clicks,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    _validate_campaign(campaign)
    campaign.batch = contact_services.batch_create(
        name=f"Campaign: {campaign.name}"[:200], source=Batch.Source.CAMPAIGN
    )
    campaign.save()
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, **changes: Any) -> Campaign:
    unknown = set(changes) - set(CAMPAIGN_FIELDS)
    if unknown:
        raise TypeError(f"campaign_update does not change {sorted(unknown)}")
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    old_status, old_zone = campaign.status, campaign.timezone
    for field, value in changes.items():
        setattr(campaign, field, value)
    _validate_campaign(campaign)
    _validate_timeline_keeps_scenarios(campaign)
    campaign.save(update_fields=[*changes.keys(), "updated_at"])
    if campaign.status != old_status or campaign.timezone != old_zone:
        _replan_campaign(campaign)
    return campaign


STARTED = (ScenarioStatus.SENDING, ScenarioStatus.SENT, ScenarioStatus.PAUSED, ScenarioStatus.FAILED)
# A campaign holding one of these is not over yet.
BUSY = (ScenarioStatus.SCHEDULED, ScenarioStatus.SENDING, ScenarioStatus.PAUSED)


@transaction.atomic
def campaign_delete(*, campaign_id: int) -> None:
    """Delete a campaign that never sent anything, with its scenarios and its batch (the contacts stay).

    Once a scenario has started, the campaign is history (seed 004): cancel it instead.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.scenarios.filter(status__in=STARTED).exists():
        raise ScenarioStateError("This campaign has scenarios that were sent or are sending; cancel it instead.")
    batch_id = campaign.batch_id
    campaign.delete()
    contact_services.batch_delete(batch_id=batch_id)


def campaigns_complete_ended(*, day: dt.date) -> int:
    """Mark active campaigns whose timeline ended before `day`, with nothing waiting or sending, `completed`.

    One conditional UPDATE: a campaign that still has a scheduled, sending or paused scenario stays active.
    """
    busy = Scenario.objects.filter(campaign_id=OuterRef("pk"), status__in=BUSY)
    return (
        Campaign.objects.filter(status=Campaign.Status.ACTIVE, end_date__lt=day)
        .exclude(Exists(busy))
        .update(status=Campaign.Status.COMPLETED, updated_at=dj_timezone.now())
    )


def campaign_complete_if_over(*, campaign_id: int, now: dt.datetime | None = None) -> bool:
    """Mark one active campaign `completed` when its timeline is over in its own zone and nothing of it is waiting,
    sending or paused. Run when a send of the campaign ends; the daily plan sweeps the rest
    (`campaigns_complete_ended`). One conditional UPDATE: a concurrent edit that reopens it wins or loses whole."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.ACTIVE).first()
    if campaign is None or campaign.end_date >= selectors.campaign_today(campaign=campaign, now=now):
        return False
    busy = Scenario.objects.filter(campaign_id=OuterRef("pk"), status__in=BUSY)
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.ACTIVE, end_date=campaign.end_date)
        .exclude(Exists(busy))
        .update(status=Campaign.Status.COMPLETED, updated_at=dj_timezone.now())
    )


def _replan_campaign(campaign: Campaign) -> None:
    """After a status or zone change: the campaign's waiting Emailers follow (a paused campaign sends nothing)."""
    for scenario in campaign.scenarios.select_related("campaign").filter(status=ScenarioStatus.SCHEDULED):
        scenario.campaign = campaign
        emailer_sync(scenario=scenario)


# --- the campaign's contacts -------------------------------------------------------------------------------


def campaign_contacts_import(
    *, campaign: Campaign, file: Any, original_name: str = "", user: Any = None, run_now: bool | None = None
) -> ImportJob:
    """Seed 000's upload: a CSV into the campaign's batch through the one contacts import path.

    A small file (up to INLINE_IMPORT_BYTES) is imported here and now, so the caller can answer with the counts
    or the reason it failed (no email column: the job is `failed` with that message and nothing is imported);
    a bigger one is left to a worker and the caller answers with the pending job.
    """
    size = getattr(file, "size", None) or 0
    inline = size <= INLINE_IMPORT_BYTES if run_now is None else run_now
    job = contact_services.import_job_create(
        file=file,
        original_name=original_name or getattr(file, "name", "") or "contacts.csv",
        kind=ImportJob.Kind.CONTACTS,
        batch=campaign.batch,
        user=user,
        start=not inline,
    )
    if inline:
        job = contact_services.import_job_run(job_id=job.pk)
    return job


def campaign_contacts_upsert(*, campaign: Campaign, items: Sequence[Any], user: Any = None) -> ImportJob:
    """Contacts given as objects (the API's JSON upload) into the campaign's batch, through the import's direct
    path (`contacts.services.import_job_from_items`: the same rules, merge and counts as a file, no CSV). Returns
    the finished ImportJob."""
    return contact_services.import_job_from_items(
        items=items, batch=campaign.batch, user=user, original_name="contacts.json"
    )


@transaction.atomic
def campaign_quick_create(
    *,
    name: str,
    timezone: str,
    subject: str,
    content: str = "",
    template: Any = None,
    segment: Any = None,
    file: Any = None,
    at: dt.datetime | None = None,
    user: Any = None,
) -> tuple[Scenario, ImportJob | None]:
    """A one-day campaign with one scenario (the dashboard's quick wizard), all or nothing.

    Its audience is `segment`, or `file` uploaded into its batch. Sent now (`at=None`) or scheduled at `at`. An
    uploaded audience small enough is imported within the request (see `campaign_contacts_import`); a file that
    cannot be imported undoes everything. A big file is imported by a worker, so "send now" would snapshot an
    empty batch: the scenario then stays a draft, to be sent once the import is done.
    """
    zone_now = dj_timezone.now().astimezone(ZoneInfo(timezone))
    local = at or zone_now
    uploading = file is not None
    campaign = campaign_create(
        name=name,
        start_date=min(zone_now.date(), local.date()),
        end_date=max(zone_now.date(), local.date()),
        timezone=timezone,
        segment=None if uploading else segment,
        user=user,
    )
    scenario = scenario_create(
        campaign=campaign,
        subject=subject,
        content=content,
        template=template,
        send_date=local.date(),
        send_time=local.time(),
        draft=True,
        user=user,
    )
    if at is not None:
        scenario = scenario_send(scenario_id=scenario.pk, at=at, user=user)
    job = None
    if uploading:
        job = campaign_contacts_import(campaign=campaign, file=file, user=user)
        if job.status == ImportJob.Status.FAILED:
            raise ValidationError({"file": [job.message]})
    if at is None and (job is None or job.status == ImportJob.Status.DONE):
        scenario = scenario_send(scenario_id=scenario.pk, user=user)
    return scenario, job
