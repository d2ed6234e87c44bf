"""The calendar (month and week): scenarios by status, automation runs and next firings; moving a scenario to
another day through the scenario's own rules, by Campaign Managers only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from automations.models import AutomationRun
from campaigns.models import Scenario
from campaigns.selectors import scenario_edit_refusal
from dashboard.agenda import build_agenda
from tests.dashboard.fixtures import automation, run, scenario

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 9, 10, 0, tzinfo=dt.UTC)  # a Wednesday
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def items_on(agenda_weeks: list, day: dt.date) -> list[tuple[str, str, str]]:
    for week in agenda_weeks:
        for cell in week:
            if cell.date == day:
                return [(i.kind, i.label, i.status) for i in cell.items]
    raise AssertionError(f"{day} not in the grid")


def test_month_grid_covers_whole_weeks_of_the_month(manager: User) -> None:
    agenda = build_agenda(user=manager, view="month", anchor=TODAY)
    assert agenda.start == dt.date(2026, 11, 30) and agenda.end == dt.date(2027, 1, 3)
    assert all(len(week) == 7 for week in agenda.weeks) and len(agenda.weeks) == 5
    assert agenda.prev == dt.date(2026, 11, 1) and agenda.next == dt.date(2027, 1, 1)


def test_month_shows_scenarios_by_status_runs_and_next_firings(manager: User) -> None:
    draft = scenario(send_date=dt.date(2026, 12, 15), subject="Draft letter", status=Scenario.Status.DRAFT)
    sent = scenario(send_date=dt.date(2026, 12, 2), subject="Sent letter", status=Scenario.Status.SENT)
    weekly = automation("Weekly digest", "0 8 * * 1")  # Mondays 08:00 UTC
    run(weekly, due_at=dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC), status=AutomationRun.Status.SENT)
    agenda = build_agenda(user=manager, view="month", anchor=TODAY)
    assert items_on(agenda.weeks, dt.date(2026, 12, 15)) == [("scenario", draft.subject, "draft")]
    assert items_on(agenda.weeks, dt.date(2026, 12, 2)) == [("scenario", sent.subject, "sent")]
    assert items_on(agenda.weeks, dt.date(2026, 12, 7)) == [("run", "Weekly digest", "sent")]
    # Next firings from now on only: 14, 21, 28 Dec (and 30 Nov, 7 Dec are past).
    firing_days = [cell.date for week in agenda.weeks for cell in week for item in cell.items if item.kind == "firing"]
    assert firing_days == [dt.date(2026, 12, 14), dt.date(2026, 12, 21), dt.date(2026, 12, 28)]


def test_an_hourly_automation_is_one_line_a_day_with_its_count(manager: User) -> None:
    automation("Hourly", "0 * * * *")
    agenda = build_agenda(user=manager, view="week", anchor=TODAY)
    today = [i for w in agenda.weeks for c in w if c.date == TODAY for i in c.items]
    assert [(i.label, i.time, i.status_label) for i in today] == [("Hourly", "11:00", "13 firings")]


def test_a_busy_day_shows_the_first_runs_and_counts_the_rest(manager: User) -> None:
    # Eight runs on 7 Dec (past): the cell shows the first six by time, then "+2 more" (ranked in the database).
    for minute in range(8):
        owner = automation(f"Auto {minute}", "0 8 * * 1")
        run(owner, due_at=dt.datetime(2026, 12, 7, 8, 7 - minute, tzinfo=dt.UTC))
    agenda = build_agenda(user=manager, view="month", anchor=TODAY)
    (cell,) = [c for w in agenda.weeks for c in w if c.date == dt.date(2026, 12, 7)]
    assert [i.label for i in cell.items] == ["Auto 7", "Auto 6", "Auto 5", "Auto 4", "Auto 3", "Auto 2"]
    assert cell.more == 2


def test_week_view_lists_the_seven_days_from_monday(manager: User) -> None:
    scenario(send_date=dt.date(2026, 12, 13), subject="Sunday letter")
    scenario(send_date=dt.date(2026, 12, 14), subject="Next Monday letter")
    agenda = build_agenda(user=manager, view="week", anchor=TODAY)
    assert [c.date for c in agenda.weeks[0]] == [dt.date(2026, 12, 7) + dt.timedelta(days=i) for i in range(7)]
    assert items_on(agenda.weeks, dt.date(2026, 12, 13)) == [("scenario", "Sunday letter", "scheduled")]
    html = client_for(manager).get("/calendar/?view=week&date=2026-12-09").content.decode()
    assert "Sunday letter" in html and "Next Monday letter" not in html
    assert "Week of 07 Dec 2026" in html


def test_calendar_items_open_their_pages(manager: User) -> None:
    letter = scenario(send_date=dt.date(2026, 12, 15))
    html = client_for(manager).get("/calendar/?date=2026-12-01").content.decode()
    assert f'href="/campaigns/scenarios/{letter.pk}/"' in html


def test_manager_moves_a_draft_scenario_to_another_day(manager: User) -> None:
    draft = scenario(send_date=dt.date(2026, 12, 15), status=Scenario.Status.DRAFT, send_time=dt.time(9, 30))
    response = client_for(manager).post(
        f"/calendar/scenarios/{draft.pk}/move/",
        {"send_date": "2026-12-18", "view": "month", "date": "2026-12-09"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    assert (draft.send_date, draft.send_time, draft.status) == (dt.date(2026, 12, 18), dt.time(9, 30), "draft")
    assert "moved to Fri 18 Dec 2026 at 09:30" in response.content.decode()


def test_moving_a_scheduled_scenario_keeps_it_scheduled_and_replans(manager: User) -> None:
    planned = scenario(send_date=dt.date(2026, 12, 15), status=Scenario.Status.SCHEDULED)
    client_for(manager).post(f"/calendar/scenarios/{planned.pk}/move/", {"send_date": "2026-12-16"})
    planned.refresh_from_db()
    assert (planned.send_date, planned.status) == (dt.date(2026, 12, 16), "scheduled")


def test_a_sent_scenario_cannot_move_and_gets_the_edit_forms_message(manager: User) -> None:
    sent = scenario(send_date=dt.date(2026, 12, 2), status=Scenario.Status.SENT)
    response = client_for(manager).post(
        f"/calendar/scenarios/{sent.pk}/move/", {"send_date": "2026-12-20"}, HTTP_HX_REQUEST="true"
    )
    sent.refresh_from_db()
    assert sent.send_date == dt.date(2026, 12, 2)
    assert scenario_edit_refusal(scenario=sent) in response.content.decode()
    assert 'class="alert alert-danger' in response.content.decode()


def test_a_day_outside_the_campaign_timeline_is_refused_with_the_forms_message(manager: User) -> None:
    draft = scenario(send_date=dt.date(2026, 12, 15), status=Scenario.Status.DRAFT)
    campaign = draft.campaign
    response = client_for(manager).post(
        f"/calendar/scenarios/{draft.pk}/move/", {"send_date": "2027-03-01"}, HTTP_HX_REQUEST="true"
    )
    draft.refresh_from_db()
    assert draft.send_date == dt.date(2026, 12, 15)
    expected = (
        f"The send date must be inside the campaign&#x27;s timeline ({campaign.start_date} to {campaign.end_date})."
    )
    assert expected in response.content.decode()


def test_a_scheduled_scenario_cannot_move_to_a_day_already_past(manager: User) -> None:
    planned = scenario(send_date=dt.date(2026, 12, 15), status=Scenario.Status.SCHEDULED)
    response = client_for(manager).post(
        f"/calendar/scenarios/{planned.pk}/move/", {"send_date": "2026-12-08"}, follow=True
    )
    planned.refresh_from_db()
    assert planned.send_date == dt.date(2026, 12, 15)
    assert "has already passed" in response.content.decode()


def test_viewer_cannot_move_and_sees_nothing_draggable(viewer: User) -> None:
    draft = scenario(send_date=dt.date(2026, 12, 15), status=Scenario.Status.DRAFT)
    client = client_for(viewer)
    assert 'draggable="true"' not in client.get("/calendar/").content.decode()
    response = client.post(f"/calendar/scenarios/{draft.pk}/move/", {"send_date": "2026-12-16"})
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.send_date == dt.date(2026, 12, 15)


def test_manager_sees_draft_and_scheduled_scenarios_draggable_but_not_sent_ones(manager: User) -> None:
    draft = scenario(send_date=dt.date(2026, 12, 15), status=Scenario.Status.DRAFT)
    sent = scenario(send_date=dt.date(2026, 12, 2), status=Scenario.Status.SENT)
    html = client_for(manager).get("/calendar/").content.decode()
    assert f'data-move-url="/calendar/scenarios/{draft.pk}/move/"' in html
    assert f"/calendar/scenarios/{sent.pk}/move/" not in html


def test_bad_date_parameter_falls_back_to_today(manager: User) -> None:
    response = client_for(manager).get("/calendar/?date=2026-13-45&view=nonsense")
    assert response.status_code == 200
    assert "December 2026" in response.content.decode()


def test_building_a_month_leaves_the_garbage_collector_as_it_found_it(manager: User) -> None:
    import gc

    build_agenda(user=manager, view="month", anchor=TODAY)
    assert gc.isenabled()
    gc.disable()
    try:
        build_agenda(user=manager, view="month", anchor=TODAY)
        assert not gc.isenabled()
    finally:
        gc.enable()
