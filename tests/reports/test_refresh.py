"""Keeping reports fresh: inline for small sends, a worker for large ones, once per request; the tick; the
unsubscribe hook."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from delivery.models import Send
from delivery.tokens import UNSUBSCRIBE_SALT, token_make
from reports import services, tasks
from reports.compute import send_report_compute
from reports.models import SendReport, UnsubscribeRecord
from tests.reports.conftest import CLICK, LINK1, T0, Fixture, event, funnel

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(tasks.send_report_refresh_task, "delay_on_commit", calls.append)
    return calls


@time_machine.travel(T0 + dt.timedelta(days=3), tick=False)
def test_small_send_is_computed_inline(hand_counted: Fixture, queued: list[int]) -> None:
    assert services.reports_ensure(send_ids=[hand_counted.send.pk]) == []
    assert SendReport.objects.get(send=hand_counted.send).computed_at is not None
    assert queued == []


@override_settings(REPORTS_INLINE_MAX=3)
@time_machine.travel(T0 + dt.timedelta(days=3), tick=False)
def test_large_send_goes_to_a_worker_once(hand_counted: Fixture, queued: list[int]) -> None:
    Send.objects.filter(pk=hand_counted.send.pk).update(total=6)
    assert services.reports_ensure(send_ids=[hand_counted.send.pk]) == [hand_counted.send.pk]
    assert services.reports_ensure(send_ids=[hand_counted.send.pk]) == [hand_counted.send.pk]
    assert queued == [hand_counted.send.pk]


def test_refresh_task_called_twice_stores_one_report(hand_counted: Fixture) -> None:
    tasks.send_report_refresh_task(hand_counted.send.pk)
    tasks.send_report_refresh_task(hand_counted.send.pk)
    assert SendReport.objects.filter(send=hand_counted.send).count() == 1
    assert SendReport.objects.get(send=hand_counted.send).refresh_requested_at is None


def test_fresh_report_is_not_recomputed(hand_counted: Fixture, queued: list[int]) -> None:
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        services.reports_ensure(send_ids=[hand_counted.send.pk])
    with time_machine.travel(T0 + dt.timedelta(days=1, minutes=1), tick=False):
        assert services.stale_send_ids(send_ids=[hand_counted.send.pk]) == []
    with time_machine.travel(T0 + dt.timedelta(days=1, minutes=6), tick=False):
        assert services.stale_send_ids(send_ids=[hand_counted.send.pk]) == [hand_counted.send.pk]


def test_a_click_after_a_small_sends_report_is_shown_at_the_next_view(hand_counted: Fixture) -> None:
    with time_machine.travel(T0 + dt.timedelta(days=20), tick=False):
        services.reports_ensure(send_ids=[hand_counted.send.pk])
    report = SendReport.objects.get(send=hand_counted.send)
    with time_machine.travel(T0 + dt.timedelta(days=20, seconds=20), tick=False):
        event(hand_counted.deliveries["b"], CLICK, timezone.now(), url=LINK1)
        services.reports_ensure(send_ids=[hand_counted.send.pk])

    fresh = SendReport.objects.get(send=hand_counted.send)
    assert fresh.computed_at == T0 + dt.timedelta(days=20, seconds=20)
    assert fresh.click_events == report.click_events + 1


def test_a_funnel_event_after_a_small_sends_report_recomputes_it(hand_counted: Fixture) -> None:
    with time_machine.travel(T0 + dt.timedelta(days=20), tick=False):
        services.reports_ensure(send_ids=[hand_counted.send.pk])
    with time_machine.travel(T0 + dt.timedelta(days=20, seconds=20), tick=False):
        funnel(hand_counted.contacts["b"], timezone.now())
        assert services.changed_send_ids(send_ids=[hand_counted.send.pk]) == [hand_counted.send.pk]


def test_a_small_sends_report_without_news_is_not_recomputed(hand_counted: Fixture) -> None:
    with time_machine.travel(T0 + dt.timedelta(days=20), tick=False):
        services.reports_ensure(send_ids=[hand_counted.send.pk])
    with time_machine.travel(T0 + dt.timedelta(days=20, minutes=1), tick=False):
        assert services.changed_send_ids(send_ids=[hand_counted.send.pk]) == []


@override_settings(REPORTS_INLINE_MAX=3)
def test_a_large_sends_report_waits_for_staleness_despite_news(hand_counted: Fixture) -> None:
    with time_machine.travel(T0 + dt.timedelta(days=20), tick=False):
        send_report_compute(send_id=hand_counted.send.pk)
    Send.objects.filter(pk=hand_counted.send.pk).update(total=6)
    with time_machine.travel(T0 + dt.timedelta(days=20, seconds=20), tick=False):
        event(hand_counted.deliveries["b"], CLICK, timezone.now(), url=LINK1)
        assert services.changed_send_ids(send_ids=[hand_counted.send.pk]) == []


def test_report_computed_after_the_live_period_is_final(hand_counted: Fixture) -> None:
    with time_machine.travel(T0 + dt.timedelta(days=40), tick=False):
        services.reports_ensure(send_ids=[hand_counted.send.pk])
    with time_machine.travel(T0 + dt.timedelta(days=90), tick=False):
        assert services.stale_send_ids(send_ids=[hand_counted.send.pk]) == []


def test_tick_queues_stale_live_sends_once_per_interval(hand_counted: Fixture, queued: list[int]) -> None:
    cache.delete("reports:tick")
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        assert services.reports_tick() == 1
        assert services.reports_tick() == 0  # throttled
    assert queued == [hand_counted.send.pk]


def test_finished_send_event_queues_its_report(hand_counted: Fixture, queued: list[int]) -> None:
    services.on_send_event(hand_counted.send.pk, "finished", "")
    assert queued == [hand_counted.send.pk]


def test_unsubscribe_link_records_the_delivery_it_came_from(hand_counted: Fixture) -> None:
    delivery = hand_counted.deliveries["a"]
    token = token_make(delivery_id=delivery.pk, contact_id=delivery.contact_id, salt=UNSUBSCRIBE_SALT)
    response = Client().post(reverse("delivery:unsubscribe", args=[token]))
    assert response.status_code == 200
    record = UnsubscribeRecord.objects.get(delivery_id=delivery.pk)
    assert (record.send_id, record.contact_id) == (hand_counted.send.pk, delivery.contact_id)


def test_second_unsubscribe_click_records_nothing_more(hand_counted: Fixture) -> None:
    delivery = hand_counted.deliveries["a"]
    token = token_make(delivery_id=delivery.pk, contact_id=delivery.contact_id, salt=UNSUBSCRIBE_SALT)
    Client().post(reverse("delivery:unsubscribe", args=[token]))
    Client().post(reverse("delivery:unsubscribe", args=[token]))
    assert UnsubscribeRecord.objects.filter(send_id=hand_counted.send.pk).count() == 2  # f's, from the fixture, + a's


def test_token_naming_another_contacts_delivery_records_nothing(hand_counted: Fixture) -> None:
    delivery = hand_counted.deliveries["a"]
    assert not services.unsubscribe_recorded(delivery_id=delivery.pk, contact_id=hand_counted.contacts["b"].pk)


def test_a_costly_report_is_refreshed_less_often(hand_counted: Fixture) -> None:
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        services.reports_ensure(send_ids=[hand_counted.send.pk])
    SendReport.objects.filter(send=hand_counted.send).update(compute_seconds=30)  # 20 x 30 s = 10 minutes
    with time_machine.travel(T0 + dt.timedelta(days=1, minutes=6), tick=False):
        assert services.stale_send_ids(send_ids=[hand_counted.send.pk]) == []
    with time_machine.travel(T0 + dt.timedelta(days=1, minutes=11), tick=False):
        assert services.stale_send_ids(send_ids=[hand_counted.send.pk]) == [hand_counted.send.pk]
