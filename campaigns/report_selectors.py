"""Reads of campaigns and scenarios for the reports app: the campaign behind a Send, the sends of a scenario or a
campaign. Ids and rows only; what a report adds up is the reports app's business."""

from __future__ import annotations

from django.db.models import QuerySet

from campaigns.models import Campaign, Emailer, Scenario


def scenario_get(*, scenario_id: int) -> Scenario | None:
    return Scenario.objects.select_related("campaign").filter(pk=scenario_id).first()


def campaign_exists(*, campaign_id: int) -> bool:
    return Campaign.objects.filter(pk=campaign_id).exists()


def campaign_of_send(*, send_id: int) -> Campaign | None:
    """The campaign whose scenario made this send (one Emailer per send), or None."""
    emailer = Emailer.objects.filter(send_id=send_id).select_related("campaign").first()
    return emailer.campaign if emailer is not None else None


def scenario_send_ids(*, scenario_id: int) -> QuerySet[Emailer, int]:
    return Emailer.objects.filter(scenario_id=scenario_id, send__isnull=False).values_list("send_id", flat=True)


def campaign_send_ids(*, campaign_id: int) -> QuerySet[Emailer, int]:
    return (
        Emailer.objects.filter(campaign_id=campaign_id, send__isnull=False)
        .order_by("send_id")
        .values_list("send_id", flat=True)
    )
