"""The send benchmark's data: its contacts, the send it starts, the scenario and token the memory trial's web serves.

Every Django import is inside a function: `bench.send` imports this module before `django.setup()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

HTML = (
    '<!doctype html><html><body style="font-family:Arial,sans-serif">'
    "<h1>Hello {{ first_name }} {{ last_name }}</h1>"
    + "".join(
        f"<p>Paragraph {i}: our autumn update for {{{{ first_name }}}} — new features, fixes and a few words from the "
        "team about what is coming next quarter, written to be long enough to look like real content.</p>"
        for i in range(8)
    )
    + '<p><a href="https://example.org/offer?u={{ email|urlencode }}">See the offer</a></p>'
    "<p>Sent to {{ email }}.</p></body></html>"
)


def setup_data(count: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE delivery_outboxmessage, delivery_delivery, delivery_send CASCADE")
        cursor.execute("SELECT count(*) FROM contacts_contact WHERE email LIKE 'bench%%'")
        have = cursor.fetchone()[0]
        if have < count:
            print(f"inserting {count - have} contacts ...", flush=True)
            cursor.execute(
                """
                INSERT INTO contacts_contact (email, first_name, last_name, mobile, status, created_at, updated_at)
                SELECT 'bench' || g || '@example.com', 'First' || g, 'Last' || g, '', 'subscribed', now(), now()
                FROM generate_series(%s, %s) g
                ON CONFLICT DO NOTHING
                """,
                [have + 1, count],
            )
            cursor.execute("ANALYZE contacts_contact")


def audience(count: int) -> Any:
    from contacts.models import Contact

    ids = Contact.objects.filter(email__startswith="bench").order_by("pk").values_list("pk", flat=True)
    first = ids.first()
    assert first is not None
    return Contact.objects.filter(pk__gte=first, pk__lt=first + count, email__startswith="bench").values("pk")


def emails(count: int) -> list[str]:
    return [f"bench{i}@example.com" for i in range(1, count + 1)]


def purge_broker() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [k for pattern in ("celery*", "unacked*", "_kombu*", "herald:rate:*") for k in client.scan_iter(pattern)]
    if keys:
        client.delete(*keys)


def start_send(count: int, label: str) -> tuple[int, float]:
    from delivery import services

    send = services.send_create(label=label, subject="News for {{ first_name }}", body_html=HTML)
    due = time.time()
    services.send_start(send_id=send.pk, audience=audience(count))
    return send.pk, due


def wait(cond: Callable[[], bool], timeout: float, tick: Callable[[], Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if tick:
            tick()
        time.sleep(0.2)
    raise TimeoutError("benchmark step timed out")


def send_done(send_id: int) -> bool:
    from delivery.models import Send

    return Send.objects.filter(pk=send_id, status=Send.Status.DONE).exists()


def bench_scenario(send_id: int) -> int:
    """A campaign scenario whose run is this send (as the tick would have dispatched it), so the web can serve
    its progress from `GET /api/v1/scenarios/<id>` while the send runs; beat's tick closes it when the send ends."""
    import datetime as dt

    from django.utils import timezone

    from campaigns.models import Campaign, Emailer, Scenario
    from contacts.models import Batch

    Campaign.objects.filter(name="bench-memory").delete()
    Batch.objects.filter(name="bench-memory").delete()
    now = timezone.now()
    batch = Batch.objects.create(name="bench-memory")
    campaign = Campaign.objects.create(name="bench-memory", start_date=now.date(), end_date=now.date(), batch=batch)
    scenario = Scenario.objects.create(
        campaign=campaign,
        subject="News",
        content=HTML,
        send_date=now.date(),
        send_time=(now - dt.timedelta(minutes=1)).time(),
        status=Scenario.Status.SENDING,
    )
    Emailer.objects.create(
        campaign=campaign,
        scenario=scenario,
        batch=batch,
        scheduled_at=now,
        dispatched_at=now,
        started_at=now,
        send_id=send_id,
    )
    return scenario.pk


def viewer_token() -> str:
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from accounts import roles

    user, _ = User.objects.get_or_create(username="bench-viewer", defaults={"email": "bench-viewer@example.com"})
    user.groups.add(Group.objects.get(name=roles.VIEWER))
    token, _ = Token.objects.get_or_create(user=user)
    return str(token.key)
