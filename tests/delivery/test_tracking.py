"""The open pixel and the click redirect: signed tokens, the spool, the Redis buffer and its flush, the direct
fallback, first human open/click on the delivery. (The spool's own behaviours: test_tracking_spool.py.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import time_machine
from django.conf import settings
from django.test import Client

from delivery.models import Delivery, Send, TrackingEvent
from delivery.services import tracking, tracking_spool
from delivery.tokens import click_token_make, open_token_make
from delivery.tracking_endpoint import PIXEL_GIF, TrackingFastPath
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
SENT_AT = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _empty_buffer(tmp_path: Any, settings: Any) -> Iterator[None]:
    settings.TRACKING_SPOOL_DIR = tmp_path / "spool"
    client = redis.Redis.from_url(settings.REDIS_URL)
    tracking_spool.spool_drain(sink=lambda lines: None)  # hits other tests' requests left in this process's spool
    client.delete(tracking.BUFFER_KEY, tracking.LOCK_KEY)
    yield
    tracking_spool.spool_drain(sink=lambda lines: None)  # what a test left in the spool is not the next one's
    client.delete(tracking.BUFFER_KEY, tracking.LOCK_KEY)


@pytest.fixture
def delivery() -> Delivery:
    send = started_send(make_contacts(1))
    Delivery.objects.filter(send=send).update(status=Delivery.Status.SENT, sent_at=SENT_AT)
    return Delivery.objects.get(send=send)


def _open_url(d: Delivery) -> str:
    return f"/t/o/{open_token_make(delivery_id=d.pk, send_id=d.send_id)}"


def _click_url(d: Delivery, url: str = "https://example.com/offer?a=1&b=2", index: int = 0, count: int = 1) -> str:
    token = click_token_make(delivery_id=d.pk, send_id=d.send_id, link_index=index, link_count=count, url=url)
    return f"/t/c/{token}"


def _flush() -> int:
    """What the shipper thread and the worker do: the spool to the buffer, the buffer to rows."""
    tracking_spool.spool_ship()
    return tracking.tracking_buffer_flush()


# --- the endpoints ---------------------------------------------------------------------------------------------


def test_the_pixel_answers_a_1x1_gif_that_is_never_cached(client: Client, delivery: Delivery) -> None:
    response = client.get(_open_url(delivery), headers={"user-agent": CHROME})

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content == PIXEL_GIF
    assert "no-store" in response["Cache-Control"]


def test_a_tampered_pixel_token_is_refused_with_400_and_nothing_recorded(client: Client, delivery: Delivery) -> None:
    url = _open_url(delivery)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")

    response = client.get(tampered)
    _flush()

    assert response.status_code == 400
    assert TrackingEvent.objects.count() == 0


def test_the_redirect_answers_302_to_the_original_url(client: Client, delivery: Delivery) -> None:
    response = client.get(_click_url(delivery), headers={"user-agent": CHROME})

    assert response.status_code == 302
    assert response["Location"] == "https://example.com/offer?a=1&b=2"


def test_a_click_token_whose_url_was_changed_is_refused_with_400_and_no_redirect(
    client: Client, delivery: Delivery
) -> None:
    good = _click_url(delivery, url="https://example.com/")
    evil = _click_url(delivery, url="https://evil.example/")
    # The evil URL's link payload with the good URL's link signature (and the recipient part).
    evil_parts, good_parts = evil.split("."), good.split(".")
    forged = ".".join([evil_parts[0], good_parts[1], *good_parts[2:]])

    response = client.get(forged)
    _flush()

    assert response.status_code == 400
    assert "Location" not in response
    assert TrackingEvent.objects.count() == 0


def test_a_click_token_signed_for_the_pixel_is_not_a_redirect(client: Client, delivery: Delivery) -> None:
    token = _open_url(delivery).rsplit("/", 1)[1]

    response = client.get(f"/t/c/{token}")

    assert response.status_code == 400
    assert "Location" not in response


def test_the_redirect_refuses_post(client: Client, delivery: Delivery) -> None:
    assert client.post(_click_url(delivery)).status_code == 405


def test_the_wsgi_fast_path_answers_the_redirect_without_django(delivery: Delivery) -> None:
    def django_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise AssertionError("the tracking URL reached Django")

    seen: list[Any] = []
    app = TrackingFastPath(django_app)
    environ = {"PATH_INFO": _click_url(delivery), "REQUEST_METHOD": "GET", "REMOTE_ADDR": "203.0.113.9"}

    body = app(environ, lambda status, headers: seen.append((status, dict(headers))))
    _flush()

    assert list(body) == [b""]
    assert seen[0][0] == "302 Found"
    assert seen[0][1]["Location"] == "https://example.com/offer?a=1&b=2"
    assert TrackingEvent.objects.get().ip == "203.0.113.9"


def test_the_wsgi_fast_path_hands_every_other_url_to_django() -> None:
    app = TrackingFastPath(lambda environ, start_response: [b"django"])

    assert list(app({"PATH_INFO": "/t/o/a/b", "REQUEST_METHOD": "GET"}, lambda *a: None)) == [b"django"]
    assert list(app({"PATH_INFO": "/campaigns/", "REQUEST_METHOD": "GET"}, lambda *a: None)) == [b"django"]


# --- buffer, flush and fallback --------------------------------------------------------------------------------


def test_hits_wait_in_the_redis_buffer_until_the_flush_stores_them(client: Client, delivery: Delivery) -> None:
    client.get(_open_url(delivery), headers={"user-agent": CHROME})
    client.get(_click_url(delivery), headers={"user-agent": CHROME})
    tracking_spool.spool_ship()

    assert (TrackingEvent.objects.count(), tracking.tracking_buffer_length()) == (0, 2)
    assert tracking.tracking_buffer_flush() == 2
    assert sorted(TrackingEvent.objects.values_list("kind", flat=True)) == ["click", "open"]
    assert tracking.tracking_buffer_length() == 0


def test_a_flush_that_died_before_trimming_the_buffer_stores_nothing_twice(client: Client, delivery: Delivery) -> None:
    for _ in range(3):
        client.get(_click_url(delivery), headers={"user-agent": CHROME})
    tracking_spool.spool_ship()
    raw = redis.Redis.from_url(settings.REDIS_URL).lrange(tracking.BUFFER_KEY, 0, -1)
    hits = [h for h in (tracking.Hit.loads(r) for r in raw) if h is not None]
    tracking.tracking_hits_ingest(hits=hits)  # committed, then "crashed" before LTRIM

    _flush()

    assert TrackingEvent.objects.count() == 3


def _redis_down(monkeypatch: pytest.MonkeyPatch) -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.25)  # nothing listens there
    for timeout in (0.5, 2.0):
        monkeypatch.setitem(tracking._clients, (settings.REDIS_URL, timeout), down)


def test_with_redis_down_the_shipper_stores_the_spooled_hit_directly(
    client: Client, delivery: Delivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    _redis_down(monkeypatch)

    response = client.get(_click_url(delivery), headers={"user-agent": CHROME})
    tracking_spool.spool_ship()

    assert response.status_code == 302
    assert TrackingEvent.objects.filter(kind="click", classification="human").count() == 1


def test_with_the_spool_unwritable_and_redis_down_the_request_stores_its_hit(
    client: Client, delivery: Delivery, monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Any
) -> None:
    (tmp_path / "a-file").write_text("")
    settings.TRACKING_SPOOL_DIR = tmp_path / "a-file" / "spool"  # cannot be a directory
    _redis_down(monkeypatch)

    response = client.get(_click_url(delivery), headers={"user-agent": CHROME})

    assert response.status_code == 302
    assert TrackingEvent.objects.filter(kind="click").count() == 1


def test_the_direct_mode_stores_each_hit_at_once(client: Client, delivery: Delivery, settings: Any) -> None:
    settings.TRACKING_BUFFER = "direct"

    client.get(_open_url(delivery), headers={"user-agent": CHROME})

    assert TrackingEvent.objects.count() == 1


def test_the_tick_hands_a_waiting_buffer_to_a_worker(client: Client, delivery: Delivery, queued_messages: Any) -> None:
    client.get(_open_url(delivery), headers={"user-agent": CHROME})
    tracking_spool.spool_ship()

    tracking.tracking_tick()

    assert queued_messages() == 1


# --- first human open and click --------------------------------------------------------------------------------


def test_a_human_open_sets_opened_at_once(client: Client, delivery: Delivery) -> None:
    with time_machine.travel(SENT_AT + dt.timedelta(hours=1), tick=False):
        client.get(_open_url(delivery), headers={"user-agent": CHROME})
    with time_machine.travel(SENT_AT + dt.timedelta(hours=2), tick=False):
        client.get(_open_url(delivery), headers={"user-agent": CHROME})
    _flush()

    assert Delivery.objects.get(pk=delivery.pk).opened_at == SENT_AT + dt.timedelta(hours=1)
    assert TrackingEvent.objects.count() == 2


def test_a_machine_open_keeps_its_event_but_never_sets_opened_at(client: Client, delivery: Delivery) -> None:
    with time_machine.travel(SENT_AT + dt.timedelta(seconds=3), tick=False):
        client.get(_open_url(delivery), headers={"user-agent": "Mozilla/5.0"}, REMOTE_ADDR="17.58.1.2")
    _flush()

    event = TrackingEvent.objects.get()
    assert (event.classification, event.rule) == ("machine", "apple-mpp")
    assert Delivery.objects.get(pk=delivery.pk).opened_at is None


def test_a_human_click_without_an_open_sets_opened_at_too(client: Client, delivery: Delivery) -> None:
    at = SENT_AT + dt.timedelta(hours=3)
    with time_machine.travel(at, tick=False):
        client.get(_click_url(delivery), headers={"user-agent": CHROME})
    _flush()

    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.opened_at, row.clicked_at) == (at, at)
    assert TrackingEvent.objects.get().url == "https://example.com/offer?a=1&b=2"


def test_a_head_request_on_a_link_is_a_machine_click(client: Client, delivery: Delivery) -> None:
    with time_machine.travel(SENT_AT + dt.timedelta(hours=3), tick=False):
        response = client.head(_click_url(delivery), headers={"user-agent": CHROME})
    _flush()

    assert response.status_code == 302
    assert TrackingEvent.objects.get().rule == "head-request"
    assert Delivery.objects.get(pk=delivery.pk).clicked_at is None


def test_every_link_clicked_within_seconds_is_a_scanner_burst_even_the_first(
    client: Client, delivery: Delivery
) -> None:
    urls = ["https://example.com/a", "https://example.com/b", "https://example.com/c"]
    with time_machine.travel(SENT_AT + dt.timedelta(hours=1), tick=False):
        client.get(_open_url(delivery), headers={"user-agent": CHROME})
        client.get(_click_url(delivery, url=urls[0], index=0, count=3), headers={"user-agent": CHROME})
    _flush()  # the first click alone looks human and is stored as such
    assert Delivery.objects.get(pk=delivery.pk).clicked_at is not None

    with time_machine.travel(SENT_AT + dt.timedelta(hours=1, seconds=1), tick=False):
        for i, url in enumerate(urls[1:], start=1):
            client.get(_click_url(delivery, url=url, index=i, count=3), headers={"user-agent": CHROME})
    _flush()

    clicks = TrackingEvent.objects.filter(kind="click")
    assert sorted(clicks.values_list("rule", flat=True)) == ["scanner-burst"] * 3
    assert Delivery.objects.get(pk=delivery.pk).clicked_at is None


def test_a_click_before_any_open_right_after_the_send_is_a_scanner(client: Client, delivery: Delivery) -> None:
    Send.objects.filter(pk=delivery.send_id).update(body_html="<p>Hello</p>")  # the email carried the pixel
    with time_machine.travel(SENT_AT + dt.timedelta(seconds=20), tick=False):
        client.get(_click_url(delivery), headers={"user-agent": CHROME})
    _flush()

    assert TrackingEvent.objects.get().rule == "click-before-open"
    assert Delivery.objects.get(pk=delivery.pk).clicked_at is None


def test_a_click_right_after_a_plain_text_email_is_human_as_no_open_could_come_first(
    client: Client, delivery: Delivery
) -> None:
    # The demo scenario is plain text: no pixel, so its reader's click in the Outbox is the first thing recorded.
    with time_machine.travel(SENT_AT + dt.timedelta(seconds=20), tick=False):
        client.get(_click_url(delivery), headers={"user-agent": CHROME})
    _flush()

    event = TrackingEvent.objects.get()
    assert (event.classification, event.rule) == ("human", "")
    assert Delivery.objects.get(pk=delivery.pk).clicked_at is not None


def test_a_click_right_after_an_html_email_without_open_tracking_is_human(client: Client, delivery: Delivery) -> None:
    Send.objects.filter(pk=delivery.send_id).update(body_html="<p>Hello</p>", track_opens=False)
    with time_machine.travel(SENT_AT + dt.timedelta(seconds=20), tick=False):
        client.get(_click_url(delivery), headers={"user-agent": CHROME})
    _flush()

    assert TrackingEvent.objects.get().classification == "human"


def test_events_of_a_deleted_delivery_are_dropped_at_the_flush(client: Client, delivery: Delivery) -> None:
    url = _open_url(delivery)
    Delivery.objects.filter(pk=delivery.pk).delete()

    client.get(url, headers={"user-agent": CHROME})

    assert _flush() == 1
    assert TrackingEvent.objects.count() == 0


def test_the_flush_task_called_twice_stores_each_hit_once(client: Client, delivery: Delivery) -> None:
    from delivery.tasks import tracking_flush_task

    for _ in range(3):
        client.get(_open_url(delivery), headers={"user-agent": CHROME})
    tracking_spool.spool_ship()

    assert tracking_flush_task() == 3
    assert tracking_flush_task() == 0
    assert TrackingEvent.objects.count() == 3


def test_hits_from_many_threads_at_once_all_reach_the_spool_whole(delivery: Delivery) -> None:
    import threading

    def hit_many() -> None:
        for _ in range(25):
            tracking.tracking_hit_record(
                hit=tracking.hit_new(
                    kind="open", source="pixel", delivery_id=delivery.pk, send_id=delivery.send_id, user_agent=CHROME
                )
            )

    threads = [threading.Thread(target=hit_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert tracking_spool.spool_ship() == 200
    assert tracking.tracking_buffer_length() == 200
    assert _flush() == 200
    assert TrackingEvent.objects.count() == 200


def test_a_batch_that_hit_a_deadlock_is_stored_on_the_next_attempt(
    delivery: Delivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError
    from psycopg import errors

    from delivery.services import tracking_store

    real, calls = tracking_store._ingest, []

    def deadlock_once(hits: list[tracking.Hit]) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from errors.DeadlockDetected("deadlock detected")
        return real(hits)

    monkeypatch.setattr(tracking_store, "_ingest", deadlock_once)
    hit = tracking.hit_new(kind="open", source="pixel", delivery_id=delivery.pk, send_id=delivery.send_id)

    assert tracking.tracking_hits_ingest(hits=[hit]) == 1
    assert len(calls) == 2
    assert TrackingEvent.objects.count() == 1
