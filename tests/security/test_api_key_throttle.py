"""Issue 18 §1: the API-key path shares the failed-credential throttle of the token path (issue 13 §5)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts import services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_AUTH_FAILURE_LIMIT = 10
    settings.API_AUTH_FAILURE_WINDOW_SECONDS = 600


def _get(key: str, address: str):  # type: ignore[no-untyped-def]
    return APIClient().get("/api/v1/templates", HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR=address)


def test_bad_api_keys_are_throttled_after_the_limit(client_address: str) -> None:
    statuses = [_get(f"hk_{i:012x}.guess", client_address).status_code for i in range(15)]

    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}


def test_a_valid_api_key_from_a_throttled_address_is_refused_too(manager: User, client_address: str) -> None:
    for i in range(10):
        _get(f"hk_{i:012x}.guess", client_address)
    _, raw = services.api_key_create(owner=manager, name="x", scope="read")

    assert _get(raw, client_address).status_code == 429


def test_bad_tokens_and_bad_keys_share_one_budget(client_address: str) -> None:
    client = APIClient()
    for i in range(5):
        client.get("/api/v1/templates", HTTP_AUTHORIZATION=f"Token {i:040x}", REMOTE_ADDR=client_address)
    for i in range(5):
        _get(f"hk_{i:012x}.guess", client_address)

    assert _get("hk_000000000000.guess", client_address).status_code == 429
