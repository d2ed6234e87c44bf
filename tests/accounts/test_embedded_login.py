from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _with_password(settings: Any, tmp_path: Path) -> None:
    settings.BASE_DIR = tmp_path
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "admin_password.txt").write_text("s3cret-demo\n")


def test_the_embedded_default_shows_the_demo_login_on_the_sign_in_page(
    client: Client, settings: Any, tmp_path: Path
) -> None:
    _with_password(settings, tmp_path)
    settings.HERALD_EMBEDDED = True
    assert "s3cret-demo" in client.get("/login/").content.decode()


def test_other_settings_never_show_it(client: Client, settings: Any, tmp_path: Path) -> None:
    _with_password(settings, tmp_path)
    settings.HERALD_EMBEDDED = False
    assert "s3cret-demo" not in client.get("/login/").content.decode()
