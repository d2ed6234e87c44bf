"""Issue 14 §2: the README's production recipe works on a clean tree.

Production settings, `collectstatic` (the manifest storage), `check --deploy` with no warning, then gunicorn as
the README runs it: an Admin signs in through the login form and a dashboard page answers 200 with its stylesheet.
Requests carry `X-Forwarded-Proto: https`, as the TLS-terminating proxy of the README's setup sets it.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User

from bench.procs import free_port, kill_groups
from tests.e2e.conftest import ROOT, _database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def _env(static_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HERALD_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        HERALD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_STATIC_ROOT=str(static_root),
        DATABASE_URL=_database_url(),
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """The recipe's order: collectstatic and the deploy check, then the web process."""
    env = _env(tmp_path / "static")
    collected = _manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    deploy = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.asgi",
                "-k",
                "asgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--access-logfile",
                "-",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", env, log
    finally:
        kill_groups([proc])


def test_the_production_recipe_serves_the_dashboard_through_gunicorn(
    gunicorn: tuple[str, dict[str, str], Path],
) -> None:
    base, _env_used, log = gunicorn
    # Hashed with production's default hasher (the test settings' fast MD5 one is not in production's list).
    User.objects.create_superuser("ops", "ops@example.com", password=None)
    User.objects.filter(username="ops").update(password=PBKDF2PasswordHasher().encode(PASSWORD, "recipesalt"))

    https = {"X-Forwarded-Proto": "https"}
    deadline = time.monotonic() + 60
    while True:
        try:
            login_page = requests.get(f"{base}/login/", headers=https, timeout=5)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not answer:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)
    assert login_page.status_code == 200
    # Secure cookies: the client would only send them over HTTPS, which the proxy speaks; pass them by hand.
    csrf = login_page.cookies["csrftoken"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
    assert token is not None
    signed_in = requests.post(
        f"{base}/login/",
        data={"username": "ops", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={**https, "Referer": f"https://{base.removeprefix('http://')}/login/", "Cookie": f"csrftoken={csrf}"},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]
    session = signed_in.cookies["sessionid"]

    dashboard = requests.get(f"{base}/campaigns/", headers={**https, "Cookie": f"sessionid={session}"}, timeout=10)
    assert dashboard.status_code == 200
    assert "Campaigns" in dashboard.text
    stylesheet = re.search(r'href="(/static/css/herald\.[0-9a-f]+\.css)"', dashboard.text)
    assert stylesheet is not None, "the page links the hashed (collected) stylesheet"
    css = requests.get(base + stylesheet.group(1), headers=https, timeout=10)
    assert css.status_code == 200 and "navbar" in css.text
