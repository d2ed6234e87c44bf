"""API v1 for reports (issue 17): the figures of a send, scenario, campaign, automation, run or journey step as
JSON, the same figures the report pages show. Read-only; every role reads (`RolePermission`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reports import selectors, services, targets
from reports.goals import owner_goal


class ReportSerializer(serializers.Serializer):
    sends = serializers.IntegerField(help_text="Sends added up")
    computed_at = serializers.DateTimeField(allow_null=True, help_text="The oldest stored figures used")
    pending = serializers.IntegerField(help_text="Sends a worker is recomputing (their last figures are used)")
    figures = serializers.DictField(child=serializers.IntegerField())
    revenue = serializers.DictField(
        child=serializers.CharField(),
        help_text="revenue (after a click) and revenue_view (after delivery only): the sums of the credited "
        "conversions' amounts as decimal strings, and their currency (HERALD_CURRENCY)",
    )
    rates = serializers.DictField(child=serializers.FloatField(allow_null=True))
    links = serializers.ListField(child=serializers.DictField())
    hours = serializers.ListField(child=serializers.DictField(), help_text="Hours after the send with events")
    goal = serializers.DictField(allow_null=True)


def report_json(target: targets.Target) -> dict[str, Any]:
    pending = services.reports_ensure(send_ids=target.send_ids)
    figures = selectors.report_figures(send_ids=target.send_ids)
    goal = owner_goal(owner_type=target.owner.type, owner_id=target.owner.id) if target.owner else None
    return {
        "sends": figures.sends,
        "computed_at": figures.computed_at,
        "pending": len(pending),
        "figures": figures.counts,
        "revenue": {
            **{name: f"{value:.2f}" for name, value in figures.amounts.items()},
            "currency": settings.HERALD_CURRENCY,
        },
        "rates": figures.rates,
        "links": [
            {"url": url, "human_clicks": human, "unique_human_clicks": unique, "machine_clicks": machine}
            for url, human, unique, machine in figures.links
        ],
        "hours": [
            {"hour": h, "human_opens": ho, "machine_opens": mo, "human_clicks": hc, "machine_clicks": mc}
            for h, ho, mo, hc, mc in (figures.hours[k] for k in sorted(figures.hours))
        ],
        "goal": {"stage": goal.stage, "window_days": goal.window_days, "custom": goal.custom} if goal else None,
    }


class ReportView(APIView):
    """The report of one target: `kind` is set per URL (send, scenario, campaign, automation, automation_run,
    journey_step)."""

    kind = ""

    @extend_schema(responses=ReportSerializer)
    def get(self, request: Request, pk: int, key: str = "") -> Response:
        builder = targets.TARGETS[self.kind]
        target = builder(request, pk, key) if key else builder(request, pk)
        return Response(ReportSerializer(report_json(target)).data)
