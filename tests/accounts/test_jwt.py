"""Issue 18 §1: an API key is exchanged for a short-lived JWT access token that carries the key's id and scope."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services

pytestmark = pytest.mark.django_db

TEMPLATE = {"name": "A", "subject": "S", "message": "Hello", "templating_type": "text"}


def _exchange(raw: str):  # type: ignore[no-untyped-def]
    return APIClient().post("/api/v1/auth/token", {"api_key": raw}, format="json")


def _bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def _access(owner: User, scope: str) -> str:
    _, raw = services.api_key_create(owner=owner, name="x", scope=scope)
    return str(_exchange(raw).json()["access"])


def test_an_api_key_is_exchanged_for_a_fifteen_minute_access_token(manager: User) -> None:
    key, raw = services.api_key_create(owner=manager, name="x", scope="write")

    response = _exchange(raw)

    body = response.json()
    claims = jwt.decode(body["access"], options={"verify_signature": False})
    assert response.status_code == 200
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 900, "write")
    assert (claims["api_key_id"], claims["scope"], claims["exp"] - claims["iat"]) == (key.pk, "write", 900)


def test_a_wrong_api_key_gets_no_token() -> None:
    response = _exchange("hk_000000000000.nope")

    assert response.status_code == 401
    assert "access" not in response.json()


def test_a_revoked_api_key_gets_no_token(manager: User) -> None:
    key, raw = services.api_key_create(owner=manager, name="x", scope="read")
    services.api_key_revoke(key=key)

    assert _exchange(raw).status_code == 401


def test_the_access_token_authenticates_api_requests(viewer: User) -> None:
    assert _bearer(_access(viewer, "read")).get("/api/v1/templates").status_code == 200


def test_a_read_token_cannot_write(manager: User) -> None:
    response = _bearer(_access(manager, "read")).post("/api/v1/templates", TEMPLATE, format="json")

    assert response.status_code == 403


def test_a_write_token_writes(manager: User) -> None:
    response = _bearer(_access(manager, "write")).post("/api/v1/templates", TEMPLATE, format="json")

    assert response.status_code == 201


def test_a_token_of_a_revoked_key_is_refused_at_once(manager: User) -> None:
    key, raw = services.api_key_create(owner=manager, name="x", scope="read")
    access = _exchange(raw).json()["access"]
    services.api_key_revoke(key=key)

    assert _bearer(access).get("/api/v1/templates").status_code == 401


def test_a_token_of_an_expired_key_is_refused(manager: User, time_machine) -> None:  # type: ignore[no-untyped-def]
    expires = timezone.now() + dt.timedelta(minutes=5)
    _, raw = services.api_key_create(owner=manager, name="x", scope="read", expires_at=expires)
    access = _exchange(raw).json()["access"]
    time_machine.move_to(timezone.now() + dt.timedelta(minutes=6))

    assert _bearer(access).get("/api/v1/templates").status_code == 401


def test_an_access_token_expires_after_fifteen_minutes(manager: User, time_machine) -> None:  # type: ignore[no-untyped-def]
    access = _access(manager, "read")
    time_machine.move_to(timezone.now() + dt.timedelta(minutes=16))

    assert _bearer(access).get("/api/v1/templates").status_code == 401


def test_a_token_whose_scope_claim_is_raised_and_resigned_with_another_key_is_refused(manager: User) -> None:
    claims = jwt.decode(_access(manager, "read"), options={"verify_signature": False})
    claims["scope"] = "admin"
    forged = jwt.encode(claims, "not-" + settings.SECRET_KEY, algorithm="HS256")

    assert _bearer(forged).post("/api/v1/templates", TEMPLATE, format="json").status_code == 401


def test_a_token_is_capped_at_its_keys_scope_whatever_it_claims(manager: User) -> None:
    claims = jwt.decode(_access(manager, "read"), options={"verify_signature": False})
    claims["scope"] = "write"  # as if the signing key had leaked: the key row still says read
    forged = jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")

    assert _bearer(forged).post("/api/v1/templates", TEMPLATE, format="json").status_code == 403
