"""Browser fixtures: the real dashboard served by pytest-django's `live_server`, driven by a headless Chromium.

Chromium is the system one (Debian's `chromium`, installed by `.ci/run`; HERALD_CHROMIUM points elsewhere):
Playwright's own browser downloads are never used, so nothing is fetched at run time. Where no Chromium is
installed the tests skip with that reason.

Every page a test opens is watched (`watch`): a JavaScript console error, an uncaught exception, a response
of 4xx/5xx to a request the page made itself, or a request that failed outright fails the test at teardown.

Tests that send use a real Celery worker process (tests/e2e's `CeleryWorkers`), one for the package, with the
`outbox` transport, so the emails land in the Outbox table the dashboard shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from bench.fake_resend import FakeResend
from campaigns.models import Scenario
from config.celery import app as celery_app
from tests.broker import purge_broker
from tests.e2e.conftest import CeleryWorkers, FakeResendHandle

CHROMIUM = os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium")
# No first-run work, no background traffic: a run must not depend on (or reach) the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
# Long enough for a worker to start and send a few emails on a loaded CI machine; a passing run takes far less.
SEND_TIMEOUT_MS = 45_000
QUEUE = "celery"  # Celery's default queue: Herald routes by priority, not by queue (scheduler/routing.py)


@pytest.fixture(scope="package")
def _playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install it (`apt-get install -y chromium chromium-driver`, which .ci/run "
            "does as root) or set HERALD_CHROMIUM to a Chromium binary"
        )
    # The sync API runs an asyncio loop in this thread while it lives, and Django refuses ORM calls from a
    # thread with a running loop. The tests' ORM calls are plain synchronous code, so allow them, for this
    # package only (the other tests keep Django's guard).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            yield p
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(_playwright: Playwright) -> Iterator[Browser]:
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class PageWatch:
    """What went wrong on the pages of one browser context, collected by the listeners of `watch`."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught exception on {page.url}: {exc}"))
        page.on("response", self._response)
        page.on("requestfailed", self._request_failed)
        # A `confirm()` before a destructive action is part of the flow: answer yes, as the user would.
        page.on("dialog", lambda dialog: dialog.accept())

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.problems.append(f"console error ({where}): {message.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            request = response.request
            self.problems.append(f"{request.method} {request.url} answered {response.status}")

    def _request_failed(self, request: Request) -> None:
        # Leaving a page aborts its pending requests (an HTMX poll in flight): that is not a failure.
        if request.failure and "ERR_ABORTED" not in request.failure:
            self.problems.append(f"{request.method} {request.url} failed: {request.failure}")


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def new_context(browser: Browser, live_server: Any, watch: PageWatch) -> Iterator[Callable[..., BrowserContext]]:
    """`new_context(user=None)`: a fresh browser context on the live server, signed in as `user` if given.

    Every page of every context is watched; the watch is checked once all of them are closed.
    """
    contexts: list[BrowserContext] = []

    def make(user: User | None = None) -> BrowserContext:
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        context.on("page", watch.attach)
        if user is not None:
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": _session_for(user), "url": live_server.url}]
            )
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        with contextlib.suppress(PlaywrightError):  # a context the browser already lost
            context.close()
    if watch.problems:
        pytest.fail("the browser saw problems:\n" + "\n".join(dict.fromkeys(watch.problems)), pytrace=False)


def _session_for(user: User) -> str:
    """The key of a signed-in session of `user`, written as `django.contrib.auth.login` writes one.

    Not through `login()` itself: signing in is `test_log_in`'s behaviour; here it is only a precondition, and
    the login signal's receivers (the lockout's bookkeeping) want a real request.
    """
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return str(session.session_key)


@pytest.fixture
def page(new_context: Callable[..., BrowserContext], manager: User) -> Page:
    """A page signed in as a Campaign Manager."""
    return new_context(manager).new_page()


class Worker:
    """One real Celery worker for the whole package, started by the first test that sends.

    A worker start costs seconds (Django and Celery imports); the tests that send share one. It delivers
    through the `outbox` transport, into the table the dashboard's Outbox shows. Between tests pytest-django
    truncates the tables under it, which an idle worker does not mind.
    """

    def __init__(self, workers: CeleryWorkers) -> None:
        self._workers = workers
        self._paused = False

    def start(self) -> None:
        if not any(p.poll() is None for p in self._workers.procs):
            self._workers.start(concurrency=2, EMAIL_TRANSPORT="outbox")
            self._paused = False

    def pause(self) -> None:
        """Stop taking tasks (they wait in Redis) until `resume()`: Celery's remote control, acknowledged."""
        # limit=1: the one worker's reply ends the wait (without it the broadcast waits out the whole timeout).
        replies = celery_app.control.cancel_consumer(QUEUE, reply=True, timeout=10, limit=1)
        assert replies, f"the worker did not acknowledge cancel_consumer\n{self.logs()}"
        self._paused = True

    def resume(self) -> None:
        if self._paused:
            replies = celery_app.control.add_consumer(QUEUE, reply=True, timeout=10, limit=1)
            assert replies, f"the worker did not acknowledge add_consumer\n{self.logs()}"
            self._paused = False

    def logs(self) -> str:
        return self._workers.logs()

    def stop(self) -> None:
        self._workers.kill()


@pytest.fixture(scope="package")
def _package_worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    if not settings.REDIS_URL:
        pytest.fail("browser tests that send need REDIS_URL (make test sets it)")
    purge_broker(settings.REDIS_URL)
    # tests/e2e's worker helper wants a Resend-compatible server; with the outbox transport nothing calls it.
    resend = FakeResend().start()
    worker = Worker(CeleryWorkers(FakeResendHandle(resend), tmp_path_factory.mktemp("workers")))
    yield worker
    worker.stop()
    resend.stop()
    purge_broker(settings.REDIS_URL)


@pytest.fixture
def worker(transactional_db: None, _package_worker: Worker) -> Iterator[Worker]:
    """`worker.start()` before an action that sends; `pause()` / `resume()` to hold its tasks back."""
    yield _package_worker
    _package_worker.resume()  # a test that failed while paused must not leave the next one without a worker


def wait_for_status(scenario_id: int, status: str, workers: Worker, timeout: float = 45) -> Scenario:
    deadline = time.monotonic() + timeout
    scenario = Scenario.objects.get(pk=scenario_id)
    while time.monotonic() < deadline:
        scenario = Scenario.objects.get(pk=scenario_id)
        if scenario.status == status:
            return scenario
        time.sleep(0.2)
    raise AssertionError(
        f"scenario {scenario_id} is {scenario.status}, not {status}, after {timeout}s\n{workers.logs()}"
    )


def percent(value: int) -> re.Pattern[str]:
    """'100 %', '100%' as the progress bar writes it."""
    return re.compile(rf"\b{value}\s?%")
