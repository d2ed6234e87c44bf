"""What every campaigns page shares: scoped getters, paging, GET filters."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest

from campaigns import selectors
from campaigns.models import Campaign, Scenario

PAGE_SIZE = 25


def _get_campaign(pk: int, user: Any = None) -> Campaign:
    try:
        return selectors.campaign_get(campaign_id=pk, user=user)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None


def _get_scenario(pk: int, user: Any = None) -> Scenario:
    scenario = selectors.scenario_list(user=user).filter(pk=pk).first()
    if scenario is None:
        raise Http404("No such scenario.")
    return scenario


def _page(request: HttpRequest, qs: Any) -> Any:
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def _filters(form: Any) -> dict[str, Any]:
    """Cleaned GET filters; a malformed filter is dropped (a list page never answers 400)."""
    form.is_valid()
    return {name: value for name, value in form.cleaned_data.items() if value not in (None, "")}
