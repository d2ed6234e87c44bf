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
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
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


def _env(tmp: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "EMAIL_TRANSPORT", "HERALD_BASE_URL", "TRACKING_BUFFER")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "HERALD_BROKER_DIR": str(tmp / "broker"),
            "HERALD_MEDIA_ROOT": str(tmp / "media"),
            "HERALD_PORT": PORT,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"User-Agent": CHROME})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as error:  # the 302 (not followed) and any error status
        return error.code, error.headers.get("Location", "")


def test_make_runs_web_process_stores_an_outbox_emails_open_and_click_in_sqlite(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _manage(env, "migrate", "--noinput")
    html = json.loads(_manage(env, "shell", "-c", SEND).strip().splitlines()[-1])
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
