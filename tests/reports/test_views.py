"""Report pages, exports, the conversion goal form, the contact page's deliveries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import cast

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from automations.models import Journey, JourneyStep
from campaigns.models import Scenario
from contacts.models import Contact
from reports.models import ConversionGoal, SendReport
from tests.reports.conftest import (
    EXPECTED,
    EXPECTED_REVENUE,
    LINK1,
    T0,
    Fixture,
    automation_run_with_send,
    deliver,
    funnel,
    scenario_with_send,
)

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_scenario_report_page_shows_the_hand_counted_figures(hand_counted: Fixture, viewer: User) -> None:
    response = _client(viewer).get(reverse("reports:scenario", args=[hand_counted.scenario.pk]))
    assert response.status_code == 200
    figures = response.context["figures"]
    assert figures.counts == EXPECTED
    body = response.content.decode()
    assert LINK1 in body and "<svg" in body and 'id="figure-conversions"' in body


@pytest.mark.parametrize("kind", ["scenario", "campaign", "send"])
def test_report_pages_show_the_hand_counted_revenue(hand_counted: Fixture, viewer: User, kind: str) -> None:
    pk = {
        "scenario": hand_counted.scenario.pk,
        "campaign": hand_counted.scenario.campaign_id,
        "send": hand_counted.send.pk,
    }[kind]
    response = _client(viewer).get(reverse(f"reports:{kind}", args=[pk]))
    assert response.context["figures"].amounts == EXPECTED_REVENUE
    body = response.content.decode()
    assert "120.50 USD" in body and "30.00 USD" in body


def test_automation_and_run_reports_show_the_revenue_of_their_conversions(viewer: User) -> None:
    from decimal import Decimal

    from tests.factories import ContactFactory

    run, send = automation_run_with_send()
    contact = cast(Contact, ContactFactory())
    deliver(send, contact, clicked_at=T0)
    funnel(contact, T0 + timedelta(hours=3), amount=Decimal("42.10"))
    funnel(contact, T0 + timedelta(hours=4))  # a conversion without an amount adds nothing
    client = _client(viewer)
    for url in (
        reverse("reports:automation", args=[run.automation_id]),
        reverse("reports:automation_run", args=[run.pk]),
    ):
        figures = client.get(url).context["figures"]
        assert figures.counts["conversions"] == 2
        assert figures.amounts == {"revenue": Decimal("42.10"), "revenue_view": Decimal("0.00")}


def test_campaign_report_adds_up_its_scenarios(hand_counted: Fixture, viewer: User) -> None:
    response = _client(viewer).get(reverse("reports:campaign", args=[hand_counted.scenario.campaign_id]))
    assert response.status_code == 200
    assert response.context["figures"].counts == EXPECTED


def test_send_report_page_names_its_campaign(hand_counted: Fixture, viewer: User) -> None:
    response = _client(viewer).get(reverse("reports:send", args=[hand_counted.send.pk]))
    assert response.status_code == 200
    assert hand_counted.scenario.campaign.name in response.content.decode()


def test_automation_and_run_reports_read_the_run_sends(viewer: User, manager: User) -> None:
    run, send = automation_run_with_send()
    from tests.factories import ContactFactory

    deliver(send, cast(Contact, ContactFactory()), opened_at=T0)
    client = _client(viewer)
    for url in (
        reverse("reports:automation", args=[run.automation_id]),
        reverse("reports:automation_run", args=[run.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert response.context["figures"].counts["opened"] == 1


def test_journey_step_report_reads_the_step_sends(viewer: User) -> None:
    from automations.models import Enrollment, EnrollmentStep
    from tests.factories import ContactFactory

    journey = Journey.objects.create(name="Welcome", trigger={"type": "api"})
    JourneyStep.objects.create(journey=journey, key="s1", type="send", position=0)
    _scenario, send = scenario_with_send()
    contact = cast(Contact, ContactFactory())
    deliver(send, contact, clicked_at=T0)
    enrollment = Enrollment.objects.create(journey=journey, contact=contact, entered_at=T0)
    EnrollmentStep.objects.create(enrollment=enrollment, step_key="s1", visit=1, ran_at=T0, outcome="sent", send=send)
    response = _client(viewer).get(reverse("reports:journey_step", args=[journey.pk, "s1"]))
    assert response.status_code == 200
    assert response.context["figures"].counts["clicked"] == 1
    assert _client(viewer).get(reverse("reports:journey_step", args=[journey.pk, "nope"])).status_code == 404


def test_report_of_an_unsent_scenario_says_nothing_was_sent(viewer: User) -> None:
    from tests.factories import ScenarioFactory

    scenario = cast(Scenario, ScenarioFactory())
    response = _client(viewer).get(reverse("reports:scenario", args=[scenario.pk]))
    assert response.status_code == 200
    assert 'id="report-empty"' in response.content.decode()


def test_report_needs_a_login(hand_counted: Fixture) -> None:
    response = Client().get(reverse("reports:scenario", args=[hand_counted.scenario.pk]))
    assert response.status_code == 302


def _csv(response: object) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(body)))


def test_figures_csv_lists_every_figure(hand_counted: Fixture, viewer: User) -> None:
    url = reverse("reports:scenario", args=[hand_counted.scenario.pk]) + "?export=figures"
    rows = _csv(_client(viewer).get(url))
    values = {row[1]: row[2] for row in rows if row[0] == "figures"}
    assert values == {name: str(value) for name, value in EXPECTED.items()}
    revenue = {row[1]: row[2] for row in rows if row[0] == "revenue"}
    assert revenue == {"revenue": "120.50", "revenue_view": "30.00", "currency": "USD"}


def test_recipients_csv_has_one_row_per_recipient_with_conversions(hand_counted: Fixture, viewer: User) -> None:
    url = reverse("reports:scenario", args=[hand_counted.scenario.pk]) + "?export=recipients"
    response = _client(viewer).get(url)
    assert response.streaming
    rows = _csv(response)
    header, body = rows[0], rows[1:]
    by_email = {row[header.index("email")]: dict(zip(header, row, strict=True)) for row in body}
    assert len(body) == 6
    assert by_email["a@example.com"]["human_opens"] == "2"
    assert by_email["a@example.com"]["conversion_kind"] == "click"
    assert by_email["b@example.com"]["conversion_kind"] == "view"
    assert by_email["b@example.com"]["machine_opens"] == "1"
    assert by_email["f@example.com"]["unsubscribed_here"] == "yes"
    assert by_email["f@example.com"]["conversions"] == "0"
    assert by_email["a@example.com"]["revenue"] == "120.50"
    assert by_email["b@example.com"]["revenue"] == "30.00"
    assert by_email["f@example.com"]["revenue"] == ""


def test_viewer_cannot_change_the_conversion_goal(hand_counted: Fixture, viewer: User) -> None:
    url = reverse("reports:goal", args=["campaign", hand_counted.scenario.campaign_id])
    response = _client(viewer).post(url, {"stage": "paid", "window_days": 3})
    assert response.status_code == 403
    assert not ConversionGoal.objects.exists()


def test_manager_sets_the_goal_and_the_reports_are_recomputed(hand_counted: Fixture, manager: User) -> None:
    client = _client(manager)
    page = reverse("reports:scenario", args=[hand_counted.scenario.pk])
    client.get(page)
    url = reverse("reports:goal", args=["campaign", hand_counted.scenario.campaign_id])
    response = client.post(url, {"stage": "signed_up", "window_days": 3, "next": page})
    assert response.status_code == 302 and response["Location"] == page
    assert SendReport.objects.get(send=hand_counted.send).computed_at is None
    figures = client.get(page).context["figures"]
    assert (figures.counts["conversions"], figures.counts["conversions_view"]) == (1, 0)


def test_goal_with_a_bad_window_is_refused_with_a_message(hand_counted: Fixture, manager: User) -> None:
    url = reverse("reports:goal", args=["campaign", hand_counted.scenario.campaign_id])
    response = _client(manager).post(url, {"stage": "paid", "window_days": 0}, follow=True)
    assert not ConversionGoal.objects.exists()
    assert any("greater than or equal to 1" in str(m) for m in response.context["messages"])


def test_contact_page_lists_deliveries_with_opens_clicks_and_conversions(hand_counted: Fixture, viewer: User) -> None:
    contact = hand_counted.contacts["a"]
    response = _client(viewer).get(reverse("contacts:detail", args=[contact.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="contact-deliveries"' in body
    assert "after a click" in body and "120.50 USD" in body
    assert reverse("reports:send", args=[hand_counted.send.pk]) in body


def test_detail_pages_link_their_report(hand_counted: Fixture, viewer: User) -> None:
    client = _client(viewer)
    scenario = hand_counted.scenario
    assert (
        reverse("reports:scenario", args=[scenario.pk])
        in client.get(reverse("campaigns:scenario-detail", args=[scenario.pk])).content.decode()
    )
    assert (
        reverse("reports:campaign", args=[scenario.campaign_id])
        in client.get(reverse("campaigns:detail", args=[scenario.campaign_id])).content.decode()
    )


def test_journey_page_links_each_send_step_report(viewer: User) -> None:
    journey = Journey.objects.create(name="Welcome", trigger={"type": "api"})
    JourneyStep.objects.create(journey=journey, key="s1", type="send", position=0)
    body = _client(viewer).get(reverse("journeys:detail", args=[journey.pk])).content.decode()
    assert reverse("reports:journey_step", args=[journey.pk, "s1"]) in body


def test_goal_for_an_unknown_owner_is_refused(manager: User) -> None:
    response = _client(manager).post(
        reverse("reports:goal", args=["automation", 999999]), {"stage": "x", "window_days": 3}
    )
    assert response.status_code == 302
    assert not ConversionGoal.objects.exists()
