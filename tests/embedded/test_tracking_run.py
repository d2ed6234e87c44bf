"""`make run`'s web process (config.settings.local, SQLite from its migrations, no Redis) records an email's open and
click: the pixel and the redirect of an email in the Outbox, requested over HTTP as a mail client would, are
stored in the SQLite database with the delivery's first human open and click (docs/tracking.md).

The email is rendered by the send engine itself (`page_send` through the outbox transport); the web process is
Procfile.dev's `web` line under honcho, on HERALD_PORT, so the links in the email point at it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.embedded.stack import ROOT, embedded_env, manage

pytestmark = [pytest.mark.e2e]

PORT = "8841"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
SEND = """
import json
from contacts.models import Contact
from delivery import services
from delivery.models import OutboxMessage
contact = Contact.objects.create(email="reader@example.com", first_name="Ann")
send = services.send_create(
    label="embedded", subject="Offer", body_text="",
    body_html='<p>Hi {{ first_name }}, see <a href="https://example.org/offer?id=7">the offer</a>.</p>',
)
services.send_start(send_id=send.pk, audience=Contact.objects.filter(pk=contact.pk).values("pk"))
services.page_send(send_id=send.pk, page=0)
print(json.dumps(OutboxMessage.objects.get().body_html))
"""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"User-Agent": CHROME})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as error:  # the 302 (not followed) and any error status
        return error.code, error.headers.get("Location", "")


def test_make_runs_web_process_stores_an_outbox_emails_open_and_click_in_sqlite(tmp_path: Path) -> None:
    env = embedded_env(tmp_path, port=PORT)
    manage(env, "migrate", "--noinput")
    html = json.loads(manage(env, "shell", "-c", SEND).strip().splitlines()[-1])
    base = f"http://127.0.0.1:{PORT}"
    pixel = re.search(rf'src="({re.escape(base)}/t/o/[^"]+)"', html)
    link = re.search(rf'href="({re.escape(base)}/t/c/[^"]+)"', html)
    assert pixel is not None and link is not None, html

    log = (tmp_path / "honcho.log").open("wb")
    honcho = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "honcho"), "start", "-f", "Procfile.dev", "web"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=2).close()
                break
            except OSError:
                assert honcho.poll() is None and time.monotonic() < deadline, (tmp_path / "honcho.log").read_text()
                time.sleep(0.5)

        opened = _get(pixel.group(1))
        clicked = _get(link.group(1).replace("&amp;", "&"))
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        try:
            honcho.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait(timeout=10)
        log.close()

    assert opened == (200, "")
    assert clicked == (302, "https://example.org/offer?id=7")
    with sqlite3.connect(tmp_path / "db.sqlite3", timeout=10) as conn:
        events = conn.execute(
            "SELECT kind, source, classification, url, created_at FROM delivery_trackingevent ORDER BY id"
        ).fetchall()
        times = conn.execute("SELECT opened_at, clicked_at FROM delivery_delivery").fetchall()
    assert [e[:4] for e in events] == [
        ("open", "pixel", "human", ""),
        ("click", "redirect", "human", "https://example.org/offer?id=7"),
    ]
    assert times == [(events[0][4], events[1][4])]
    assert b"Traceback" not in (tmp_path / "honcho.log").read_bytes()
