"""Issue 13 §5: failed API token authentication is throttled per client address. The issue's replay: 40 bad
tokens were each answered 401 with no throttling."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory, override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.security import client_ip

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_AUTH_FAILURE_LIMIT = 10
    settings.API_AUTH_FAILURE_WINDOW_SECONDS = 600


def _get(token: str, address: str):  # type: ignore[no-untyped-def]
    return APIClient().get("/api/v1/templates", HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=address)


def test_forty_bad_tokens_are_throttled_after_the_limit(client_address: str) -> None:
    statuses = [_get(f"{i:040x}", client_address).status_code for i in range(40)]

    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}


def test_the_throttled_answer_says_when_to_retry(client_address: str) -> None:
    for i in range(10):
        _get(f"{i:040x}", client_address)

    response = _get("f" * 40, client_address)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed API token attempts" in response.json()["detail"]


def test_a_valid_token_from_a_throttled_address_is_refused_too(manager: User, client_address: str) -> None:
    for i in range(10):
        _get(f"{i:040x}", client_address)
    token, _ = Token.objects.get_or_create(user=manager)

    assert _get(token.key, client_address).status_code == 429


def test_a_valid_token_works_below_the_limit(manager: User, client_address: str) -> None:
    for i in range(9):
        _get(f"{i:040x}", client_address)
    token, _ = Token.objects.get_or_create(user=manager)

    assert _get(token.key, client_address).status_code == 200


def test_other_addresses_are_not_throttled(manager: User, client_address: str) -> None:
    for i in range(10):
        _get(f"{i:040x}", client_address)
    token, _ = Token.objects.get_or_create(user=manager)

    assert _get(token.key, "192.0.2.200").status_code == 200


def test_browser_session_requests_are_neither_counted_nor_refused(manager: User, client_address: str) -> None:
    for i in range(10):
        _get(f"{i:040x}", client_address)
    client = Client()
    client.force_login(manager)

    assert client.get("/api/v1/templates", REMOTE_ADDR=client_address).status_code == 200


def test_the_client_address_is_remote_addr_without_a_trusted_proxy() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.9")

    assert client_ip(request) == "192.0.2.1"


@override_settings(HERALD_TRUSTED_PROXIES=1)
def test_behind_one_trusted_proxy_the_address_is_the_one_it_saw() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.9")

    assert client_ip(request) == "198.51.100.9"


@override_settings(HERALD_TRUSTED_PROXIES=1)
def test_a_forwarded_value_that_is_not_an_address_falls_back_to_remote_addr() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="<script>")

    assert client_ip(request) == "10.0.0.2"
