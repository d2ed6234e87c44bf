"""Issue 18 §1: bad JWTs and bad keys offered to the token exchange count against the failed-credential throttle."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_AUTH_FAILURE_LIMIT = 10
    settings.API_AUTH_FAILURE_WINDOW_SECONDS = 600


def test_bad_bearer_tokens_are_throttled_after_the_limit(client_address: str) -> None:
    client = APIClient()
    statuses = [
        client.get("/api/v1/templates", HTTP_AUTHORIZATION=f"Bearer x.{i}.y", REMOTE_ADDR=client_address).status_code
        for i in range(12)
    ]

    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}


def test_the_token_exchange_is_throttled_after_the_limit(client_address: str) -> None:
    client = APIClient()
    statuses = [
        client.post(
            "/api/v1/auth/token", {"api_key": f"hk_{i:012x}.guess"}, format="json", REMOTE_ADDR=client_address
        ).status_code
        for i in range(12)
    ]

    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
