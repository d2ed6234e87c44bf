"""Issue 13 §5: repeated wrong passwords lock the login out per (username, address), with a clear page and an
admin unlock. The issue's replay: 40 wrong passwords in a row were all answered and the account still worked."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "pass12345"  # tests.factories.UserFactory's


def _post(client: Client, path: str, username: str, password: str, address: str = "203.0.113.7"):  # type: ignore[no-untyped-def]
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def _fail(client: Client, path: str, user: User, times: int = 5, address: str = "203.0.113.7") -> None:
    for _ in range(times):
        _post(client, path, user.username, "wrong-password", address)


def test_five_wrong_passwords_lock_the_login_even_against_the_right_password(manager: User, client: Client) -> None:
    _fail(client, "/login/", manager)

    response = _post(client, "/login/", manager.username, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_attempts_before_the_limit_are_answered_as_usual(manager: User, client: Client) -> None:
    _fail(client, "/login/", manager, times=4)

    response = _post(client, "/login/", manager.username, PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(manager.pk)


def test_the_admin_login_locks_out_too(admin_user: User, client: Client) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    _fail(client, "/admin/login/", admin_user)

    response = _post(client, "/admin/login/?next=/admin/", admin_user.username, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_says_why_and_how_to_get_unlocked(manager: User, client: Client) -> None:
    _fail(client, "/login/", manager)

    page = _post(client, "/login/", manager.username, PASSWORD).content.decode()

    assert "Sign-in locked" in page
    assert "Too many wrong passwords" in page
    assert "axes_reset_username" in page


def test_forty_wrong_passwords_do_not_keep_being_checked(manager: User, client: Client) -> None:
    statuses = [_post(client, "/login/", manager.username, f"guess-{i}").status_code for i in range(40)]

    assert statuses[:4] == [200] * 4  # the form again, with its error
    assert set(statuses[5:]) == {429}


def test_the_lockout_is_per_username_and_address(manager: User, client: Client) -> None:
    _fail(client, "/login/", manager, address="203.0.113.7")

    response = _post(client, "/login/", manager.username, PASSWORD, address="203.0.113.8")

    assert response.status_code == 302


def test_another_user_from_the_same_address_can_still_sign_in(manager: User, viewer: User, client: Client) -> None:
    _fail(client, "/login/", manager)

    response = _post(client, "/login/", viewer.username, PASSWORD)

    assert response.status_code == 302


def test_a_successful_login_clears_the_earlier_failures(manager: User, client: Client) -> None:
    _fail(client, "/login/", manager, times=4)
    _post(client, "/login/", manager.username, PASSWORD)
    client.logout()

    _fail(client, "/login/", manager, times=4)
    response = _post(client, "/login/", manager.username, PASSWORD)

    assert response.status_code == 302


def test_the_lock_expires_after_the_cool_off(manager: User, client: Client) -> None:
    _fail(client, "/login/", manager)

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, minutes=1)):
        response = _post(client, "/login/", manager.username, PASSWORD)

    assert response.status_code == 302


def test_axes_reset_username_unlocks(manager: User, client: Client) -> None:
    _fail(client, "/login/", manager)

    call_command("axes_reset_username", manager.username)

    assert _post(client, "/login/", manager.username, PASSWORD).status_code == 302


def test_an_admin_unlocks_by_deleting_the_access_attempt_in_the_admin(
    manager: User, admin_user: User, client: Client
) -> None:
    _fail(client, "/login/", manager)
    attempt = AccessAttempt.objects.get(username=manager.username)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    staff = Client()
    staff.force_login(admin_user)

    listing = staff.get("/admin/axes/accessattempt/")
    staff.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200
    assert not AccessAttempt.objects.exists()
    assert _post(client, "/login/", manager.username, PASSWORD).status_code == 302
