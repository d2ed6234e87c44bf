"""Automations (issue 15): beat with 1,000 automations, and a firing to a large segment against a scenario.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench11 REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python -m bench automations                      # both parts
    ... -m bench automations --only schedule --count 1000
    ... -m bench automations --only send --recipients 100000 --trials 20 --rate-rounds 3 [--first-rows 0]

schedule (in this process, no worker): beat's scheduler (`CELERY_BEAT_SCHEDULER`, scheduler.beat.HeraldScheduler)
  over `--count` active automations (one PeriodicTask + CrontabSchedule each, none due during the run): the full
  schedule load (`all_as_schedule`, what beat does on start and after every change), timed alternately with the
  stock django-celery-beat DatabaseScheduler's (same rows, same process) and checked to give the same schedule, one
  beat tick (`tick`: the change check plus the heap), and Herald's dispatch tick (`scheduler.services.tick` with its hooks, automations' catch-up
  included). Baseline: the same with no automation, measured first in the same run. Then one automation is edited
  and one created through the services, and the SAME scheduler instance (beat is not restarted) is shown to see
  `PeriodicTasks.last_update` move and to load the new crontab before the entry's next firing.

send (a real prefork worker, the `resend` SDK, bench/fake_resend.py in its own process): an automation whose
  segment has `--recipients` contacts, fired through the broker exactly as beat fires it (`automation_fire_task`
  sent at the due time): due -> first request at the server, `--trials` times (each trial's send is cancelled
  after its first request), then `--rate-rounds` firings sent in full for the rate, alternating with the
  scenario's full sends (A B, B A, ...) so that a shared machine's load falls on both alike. Baseline: a scenario of the same campaign
  size and template, dispatched through the broker the way the tick does (`emailer_run_task`), measured the same
  way in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bench._common import print_table, setup_django

PREFIX = "bench-auto"
UNSUBSCRIBE = '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50 ms": statistics.median(ordered) * 1000,
        "p95 ms": ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000,
        "max ms": ordered[-1] * 1000,
    }


def _time(fn: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


# --- schedule ------------------------------------------------------------------------------------------------


def _fixtures(name: str, contacts: int) -> tuple[Any, Any]:
    from contacts.models import Contact
    from segments.models import Segment, SegmentMember
    from templates_app.models import MessageTemplate

    segment, created = Segment.objects.get_or_create(name=name, defaults={"type": Segment.Type.MANUAL})
    if created:
        people = Contact.objects.bulk_create(
            # Not "bench...": bench/_send_data.py's audience is every contact whose address starts so.
            [Contact(email=f"auto-{name}-{i}@example.com", first_name=f"P{i}") for i in range(contacts)],
            ignore_conflicts=True,
        )
        people = list(Contact.objects.filter(email__startswith=f"auto-{name}-"))
        SegmentMember.objects.bulk_create([SegmentMember(segment=segment, contact=c) for c in people])
    template, _ = MessageTemplate.objects.get_or_create(
        name=name,
        defaults={
            "channel": MessageTemplate.Channel.EMAIL,
            "templating_type": MessageTemplate.TemplatingType.HTML,
            "subject": "Hello {{ first_name|default:'there' }}",
            "message": "<p>Hi {{ first_name|default:'there' }}</p>" + UNSUBSCRIBE,
        },
    )
    return segment, template


def _clear_bench_automations() -> None:
    from automations import services
    from automations.models import Automation

    Automation.objects.filter(name__startswith=PREFIX).delete()
    services.automations_refresh()  # removes their PeriodicTasks (model deletes: beat's change signal fires)


def _cron(schedule: Any) -> str:
    fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    return " ".join(str(getattr(schedule, f"_orig_{f}")) for f in fields) + f" ({schedule.tz})"


def _not_due_cron(i: int, now: dt.datetime) -> str:
    """Every hour (so django-celery-beat 2.9, which leaves out crontabs not due this hour, loads them all: the worst
    case), at a minute outside the next quarter hour (nothing fires while we measure)."""
    free = [m for m in range(60) if (m - now.minute) % 60 > 15]
    return f"{free[i % len(free)]} * * * {'*' if i % 3 else '1-5'}"


def _beat_scheduler() -> Any:
    from celery.utils.imports import symbol_by_name
    from django.conf import settings

    return symbol_by_name(settings.CELERY_BEAT_SCHEDULER)


def _same_schedule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return sorted(a) == sorted(b) and all(a[name].schedule == b[name].schedule for name in a)


def _measure_scheduler(count: int, ticks: int) -> list[dict[str, Any]]:
    from django_celery_beat.schedulers import DatabaseScheduler

    from config.celery import app
    from scheduler import services as scheduler_services

    beat = _beat_scheduler()(app=app, lazy=False)
    stock = DatabaseScheduler(app=app, lazy=False)
    entries = len(beat.schedule)
    assert _same_schedule(beat.all_as_schedule(), stock.all_as_schedule()), "the two schedulers disagree"
    load: list[float] = []
    stock_load: list[float] = []
    for _ in range(10):  # alternately, so that the shared machine's load falls on both alike
        stock_load += _time(stock.all_as_schedule, 1)
        load += _time(beat.all_as_schedule, 1)
    beat.tick()  # builds the heap
    beat_tick = _time(beat.tick, ticks)
    scheduler_services.tick()  # the first after a silence hands a catch-up sweep to the (absent) worker
    herald_tick = _time(scheduler_services.tick, max(10, ticks // 4))
    name = type(beat).__name__
    return [
        {"automations": count, "measure": f"beat: load the schedule ({name})", "entries": entries, **_ms(load)},
        {
            "automations": count,
            "measure": "  the same, stock DatabaseScheduler (alternating)",
            "entries": entries,
            **_ms(stock_load),
        },
        {"automations": count, "measure": f"beat: one tick ({name}.tick)", "entries": entries, **_ms(beat_tick)},
        {
            "automations": count,
            "measure": "Herald dispatch tick (hooks incl. catch-up)",
            "entries": entries,
            **_ms(herald_tick),
        },
    ]


def part_schedule(count: int, ticks: int) -> None:
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    from automations import services
    from automations.models import Automation
    from bench._send_data import purge_broker
    from config.celery import app
    from scheduler import services as scheduler_services

    scheduler_services.schedule_sync()
    _clear_bench_automations()
    rows = _measure_scheduler(0, ticks)

    segment, template = _fixtures(f"{PREFIX}-schedule", 20)
    now = timezone.now()
    started = time.perf_counter()
    for i in range(count):
        services.automation_create(
            name=f"{PREFIX} {i:04d}", segment=segment, template=template, cron=_not_due_cron(i, now), timezone="UTC"
        )
    created_s = time.perf_counter() - started
    print(f"created {count} automations through automation_create in {created_s:.1f} s", flush=True)
    rows += _measure_scheduler(count, ticks)

    # The sweep a worker runs after beat was down: every active automation's cron walked once.
    sweep = _time(lambda: services.automations_sweep_missed(now=timezone.now()), 3)
    rows.append(
        {"automations": count, "measure": "catch-up sweep (a task, after a silence)", "entries": "", **_ms(sweep)}
    )
    print_table(
        f"Beat with {count:,} active automations (baseline: none, same run; load {os.getloadavg()[0]:.2f})", rows
    )

    # A change takes effect without restarting beat: the same scheduler instance sees it. (Its `schedule`
    # property, DatabaseScheduler's, compares PeriodicTasks.last_update with what it loaded, on every tick.)
    beat = _beat_scheduler()(app=app, lazy=False)
    beat.schedule  # noqa: B018 (loads it)
    loaded = beat._last_timestamp
    target = Automation.objects.filter(name__startswith=PREFIX).order_by("id").first()
    assert target is not None
    soon = timezone.now() + dt.timedelta(minutes=2)
    services.automation_update(automation=target, cron=f"{soon.minute} {soon.hour} * * *")
    after_edit = PeriodicTasks.last_change()
    reload = _time(lambda: beat.schedule, 1)[0]
    entry = beat.schedule[target.periodic_task_name]
    due, next_in = entry.is_due()
    new = services.automation_create(
        name=f"{PREFIX} new", segment=segment, template=template, cron=f"{soon.minute} {soon.hour} * * *"
    )
    seen_new = new.periodic_task_name in beat.schedule
    print_table(
        "A change reaches the running scheduler (no restart)",
        [
            {"step": "PeriodicTasks.last_update the running scheduler loaded", "value": str(loaded)},
            {"step": "... after automation_update (same transaction as the row)", "value": str(after_edit)},
            {"step": "next tick: the running scheduler reloads its schedule", "value": f"{reload * 1000:.1f} ms"},
            {"step": "the edited entry's crontab in the running scheduler", "value": _cron(entry.schedule)},
            {"step": "its next firing", "value": f"{soon:%H:%M} UTC, in {next_in:.0f} s"},
            {"step": "a new automation is in the running schedule", "value": str(seen_new)},
        ],
    )
    assert after_edit is not None and loaded is not None and after_edit > loaded
    assert _cron(entry.schedule).startswith(f"{soon.minute} {soon.hour} ") and not due and seen_new
    PeriodicTask.objects.filter(name__startswith="automation-").update(enabled=False)
    _clear_bench_automations()
    purge_broker()


# --- send ----------------------------------------------------------------------------------------------------


def _audience_segment(count: int) -> Any:
    from django.db import connection

    from bench import _send_data as data
    from segments.models import Segment

    segment, _ = Segment.objects.get_or_create(name=f"{PREFIX}-{count}", defaults={"type": Segment.Type.MANUAL})
    ids = data.audience(count)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM segments_segmentmember WHERE segment_id = %s", [segment.pk])
        sql, params = ids.query.sql_with_params()
        cursor.execute(
            f"INSERT INTO segments_segmentmember (segment_id, contact_id, added_at) SELECT %s, pk, now() FROM ({sql}) AS a(pk)",
            [segment.pk, *params],
        )
    return segment


def _first_request(fake: Any, due: float, timeout: float = 120) -> float:
    from bench import _send_data as data

    data.wait(lambda: fake.ledger()["first_request_at"] is not None, timeout=timeout)
    return float(fake.ledger()["first_request_at"]) - due


def _at(due: float) -> None:
    time.sleep(max(0.0, due - time.time()))


def _settle(send_id: Callable[[], int | None]) -> None:
    """Cancel the trial's send once it has reached the server, and wait until its queued pages are no-ops and the
    rest of its snapshot (written, then cancelled) is done, so the next trial starts on an idle engine."""
    from bench import _send_data as data
    from delivery import services as delivery_services
    from delivery.models import Send

    data.wait(lambda: send_id() is not None, timeout=60)
    sid = send_id()
    assert sid is not None
    delivery_services.send_cancel(send_id=sid, reason="bench trial")
    data.wait(
        lambda: not Send.objects.filter(pk=sid, status__in=[Send.Status.PENDING, Send.Status.SENDING]).exists(), 60
    )
    data.wait(lambda: Send.objects.filter(pk=sid, snapshot_rest_sql="").exists(), 120)
    time.sleep(1.0)


def part_send(recipients: int, trials: int, concurrency: int, rate_rounds: int) -> None:
    from django.utils import timezone

    from automations import services, tasks
    from automations.models import Automation, AutomationRun
    from bench import _send_data as data
    from bench.procs import Fake, Workers
    from campaigns import services as campaign_services
    from campaigns.models import Emailer
    from campaigns.tasks import emailer_run_task
    from delivery.models import Send
    from templates_app.models import MessageTemplate

    data.setup_data(recipients)
    data.purge_broker()
    segment = _audience_segment(recipients)
    template, _ = MessageTemplate.objects.update_or_create(
        name=f"{PREFIX}-send",
        defaults={
            "channel": MessageTemplate.Channel.EMAIL,
            "templating_type": MessageTemplate.TemplatingType.HTML,
            "subject": "News for {{ first_name }}",
            "message": data.HTML.replace("</body>", UNSUBSCRIBE + "</body>"),
        },
    )
    Automation.objects.filter(name=f"{PREFIX} send").delete()
    services.automations_refresh()
    automation = services.automation_create(
        name=f"{PREFIX} send", segment=segment, template=template, cron="0 0 1 1 *", timezone="UTC"
    )
    today = timezone.localdate()
    campaign = campaign_services.campaign_create(
        name=f"{PREFIX} baseline {time.time():.0f}",
        start_date=today - dt.timedelta(days=1),
        end_date=today + dt.timedelta(days=3),
        timezone="UTC",
        segment=segment,
    )

    def fire_automation(due: float) -> Callable[[], int | None]:
        due_at = dt.datetime.fromtimestamp(due, tz=dt.UTC)
        _at(due)
        tasks.automation_fire_task.apply_async(args=[automation.pk, due_at.isoformat()])
        return lambda: (
            AutomationRun.objects.filter(automation=automation, due_at=due_at).values_list("send_id", flat=True).first()
        )

    def fire_scenario(due: float) -> Callable[[], int | None]:
        later = timezone.now() + dt.timedelta(days=1)
        scenario = campaign_services.scenario_create(
            campaign=campaign,
            subject="News for {{ first_name }}",
            template=template,
            send_date=later.date(),
            send_time=later.time().replace(second=0, microsecond=0),
        )
        emailer = campaign_services.emailer_plan(scenario=scenario, scheduled_at=later)
        Emailer.objects.filter(pk=emailer.pk).update(dispatched_at=timezone.now())  # as the tick claims it
        _at(due)
        emailer_run_task.apply_async(args=[emailer.pk])
        return lambda: Emailer.objects.values_list("send_id", flat=True).get(pk=emailer.pk)

    def full_send(fire: Callable[[float], Callable[[], int | None]]) -> dict[str, float]:
        """One firing sent in full: its rate between the first request and the last accepted email."""
        from bench.fake_resend import ledger_report

        fake.reset()
        due = time.time() + 0.5
        full = fire(due)

        def fired() -> bool:
            return full() is not None

        data.wait(fired, timeout=120)
        sid = full()
        assert sid is not None

        def done() -> bool:
            return Send.objects.filter(pk=sid, status=Send.Status.DONE).exists()

        data.wait(done, timeout=1800)
        ledger = fake.ledger()
        report = ledger_report(ledger["counts"], data.emails(recipients))
        span = ledger["last_accepted_at"] - ledger["first_request_at"]
        return {
            "first request s": ledger["first_request_at"] - due,
            "full send s (due -> last)": ledger["last_accepted_at"] - due,
            "emails/s": recipients / span,
            "duplicates": report["duplicates"],
            "missing": report["missing"],
        }

    paths = (("scenario (baseline)", fire_scenario), ("automation firing", fire_automation))
    fake = Fake()
    workers = Workers(fake, concurrency)
    rows: list[dict[str, Any]] = []
    rates: dict[str, list[float]] = {name: [] for name, _ in paths}
    try:
        workers.start()
        time.sleep(1)
        for name, fire in paths:
            samples = []
            for _ in range(trials):
                fake.reset()
                due = time.time() + 0.5
                send_id = fire(due)
                samples.append(_first_request(fake, due))
                _settle(send_id)
            rows.append(
                {
                    "path": name,
                    "recipients": recipients,
                    "trials": len(samples),
                    "first request p50 s": statistics.median(samples),
                    "max s": max(samples),
                }
            )
            print(rows[-1], flush=True)
        # Full sends for the rate, the two paths alternating so that the machine's load falls on both alike.
        for round_no in range(rate_rounds):
            for name, fire in paths if round_no % 2 == 0 else tuple(reversed(paths)):
                result = full_send(fire)
                rates[name].append(result["emails/s"])
                rows.append({"path": f"{name}, full send {round_no + 1}", "recipients": recipients, **result})
                print(rows[-1], f"load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        workers.kill()
        fake.stop()
        data.purge_broker()
    base, auto = rates[paths[0][0]], rates[paths[1][0]]
    rows.append(
        {
            "path": f"automation / scenario (median of {rate_rounds} alternating full sends each)",
            "emails/s": statistics.median(auto) / statistics.median(base),
        }
    )
    print_table(
        f"Automation firing vs scenario, {recipients:,} recipients (worker prefork x{concurrency}; "
        f"DELIVERY_SNAPSHOT_FIRST_ROWS={os.environ.get('DELIVERY_SNAPSHOT_FIRST_ROWS')}; target: first request "
        "p50 <= 1 s, same rate)",
        rows,
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="schedule,send", help="comma-separated: schedule, send")
    parser.add_argument("--count", type=int, default=1000, help="active automations in the schedule part")
    parser.add_argument("--ticks", type=int, default=200, help="beat ticks timed")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4, help="prefork children of the worker")
    parser.add_argument("--rate-rounds", type=int, default=3, help="full sends per path for the rate, alternating")
    parser.add_argument(
        "--first-rows",
        type=int,
        default=100,
        help="DELIVERY_SNAPSHOT_FIRST_ROWS of this process and the workers (production's default 100; 0: one part)",
    )
    args = parser.parse_args(argv)
    os.environ["DELIVERY_SNAPSHOT_FIRST_ROWS"] = str(args.first_rows)
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    url = os.environ.get("DATABASE_URL", "")
    setup_django(urlsplit(url).path.lstrip("/") or "herald_bench11")
    from django.conf import settings

    if not settings.REDIS_URL:
        raise SystemExit("set REDIS_URL (the broker of the workers)")
    if "schedule" in only:
        part_schedule(args.count, args.ticks)
    if "send" in only:
        part_send(args.recipients, args.trials, args.concurrency, args.rate_rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
