"""Issue 18 §1: named, scoped, expiring API keys, stored hashed, created and revoked on the API keys page."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import roles, services
from accounts.models import ApiKey
from segments.models import Segment
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db

TEMPLATE = {"name": "A", "subject": "S", "message": "Hello", "templating_type": "text"}


def _key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_new_key_is_stored_only_as_a_sha256_hash(manager: User) -> None:
    key, raw = services.api_key_create(owner=manager, name="CI", scope="read")

    stored = ApiKey.objects.get(pk=key.pk)
    assert raw not in {stored.hashed_secret, stored.prefix, stored.name}
    assert stored.hashed_secret == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(f"hk_{stored.prefix}.")


def test_the_key_is_shown_once_on_the_page_that_creates_it(manager: User) -> None:
    client = _logged_in(manager)

    created = client.post(reverse("accounts:api-key-create"), {"name": "CI", "scope": "write", "expires_in_days": "30"})
    raw = created.context["new_key"]

    assert created.status_code == 201
    assert raw in created.content.decode()
    assert raw not in client.get(reverse("accounts:api-keys")).content.decode()


def test_a_viewer_can_only_create_read_keys(viewer: User) -> None:
    with pytest.raises(ValidationError):
        services.api_key_create(owner=viewer, name="x", scope="write")

    response = _logged_in(viewer).post(reverse("accounts:api-key-create"), {"name": "x", "scope": "write"})

    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_the_page_offers_a_viewer_only_the_read_scope(viewer: User) -> None:
    form = _logged_in(viewer).get(reverse("accounts:api-keys")).context["form"]

    assert [value for value, _ in form.fields["scope"].choices] == ["read"]


def test_a_campaign_manager_cannot_create_an_admin_key(manager: User) -> None:
    with pytest.raises(ValidationError):
        services.api_key_create(owner=manager, name="x", scope="admin")


def test_an_expiry_in_the_past_is_refused(manager: User) -> None:
    with pytest.raises(ValidationError):
        services.api_key_create(owner=manager, name="x", scope="read", expires_at=timezone.now() - dt.timedelta(days=1))


def test_the_api_accepts_an_api_key_header(viewer: User) -> None:
    _, raw = services.api_key_create(owner=viewer, name="x", scope="read")

    assert _key_client(raw).get("/api/v1/templates").status_code == 200


def test_a_read_key_cannot_write_even_for_a_campaign_manager(manager: User) -> None:
    _, raw = services.api_key_create(owner=manager, name="x", scope="read")

    assert _key_client(raw).post("/api/v1/templates", TEMPLATE, format="json").status_code == 403


def test_a_write_key_writes(manager: User) -> None:
    _, raw = services.api_key_create(owner=manager, name="x", scope="write")

    assert _key_client(raw).post("/api/v1/templates", TEMPLATE, format="json").status_code == 201


def test_an_admins_write_key_cannot_do_what_only_admins_may(admin_user: User) -> None:
    _, raw = services.api_key_create(owner=admin_user, name="x", scope="write")

    response = _key_client(raw).post(
        "/api/v1/segments",
        {"name": "S", "type": "sql", "selection_sql": "SELECT id FROM contacts_contact"},
        format="json",
    )

    assert response.status_code == 403
    assert not Segment.objects.exists()


def test_a_key_never_does_more_than_its_owners_current_role(manager: User) -> None:
    _, raw = services.api_key_create(owner=manager, name="x", scope="write")
    manager.groups.set([Group.objects.get(name=roles.VIEWER)])

    assert _key_client(raw).post("/api/v1/templates", TEMPLATE, format="json").status_code == 403


def test_a_revoked_key_is_refused(manager: User) -> None:
    key, raw = services.api_key_create(owner=manager, name="x", scope="read")
    services.api_key_revoke(key=key)

    assert _key_client(raw).get("/api/v1/templates").status_code == 401


def test_an_expired_key_is_refused(manager: User, time_machine) -> None:  # type: ignore[no-untyped-def]
    _, raw = services.api_key_create(
        owner=manager, name="x", scope="read", expires_at=timezone.now() + dt.timedelta(days=1)
    )
    time_machine.move_to(timezone.now() + dt.timedelta(days=2))

    assert _key_client(raw).get("/api/v1/templates").status_code == 401


def test_a_wrong_secret_with_a_real_prefix_is_refused(manager: User) -> None:
    _, raw = services.api_key_create(owner=manager, name="x", scope="read")

    assert _key_client(raw[:-4] + "AAAA").get("/api/v1/templates").status_code == 401


def test_a_key_of_a_deactivated_user_is_refused(manager: User) -> None:
    _, raw = services.api_key_create(owner=manager, name="x", scope="read")
    manager.is_active = False
    manager.save(update_fields=["is_active"])

    assert _key_client(raw).get("/api/v1/templates").status_code == 401


def test_use_is_recorded_in_last_used_at(manager: User) -> None:
    key, raw = services.api_key_create(owner=manager, name="x", scope="read")

    _key_client(raw).get("/api/v1/templates")

    key.refresh_from_db()
    assert key.last_used_at is not None


def test_the_drf_token_path_keeps_working(manager: User) -> None:
    token, _ = Token.objects.get_or_create(user=manager)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert client.post("/api/v1/templates", TEMPLATE, format="json").status_code == 201


def test_a_user_sees_only_their_own_keys(manager: User) -> None:
    services.api_key_create(owner=manager, name="mine", scope="read")
    services.api_key_create(owner=user_with_role(roles.CAMPAIGN_MANAGER), name="theirs", scope="read")

    page = _logged_in(manager).get(reverse("accounts:api-keys"))

    assert [key.name for key in page.context["page"]] == ["mine"]


def test_an_admin_sees_every_key(admin_user: User, manager: User) -> None:
    services.api_key_create(owner=manager, name="theirs", scope="read")

    page = _logged_in(admin_user).get(reverse("accounts:api-keys"))

    assert [key.name for key in page.context["page"]] == ["theirs"]


def test_the_api_keys_page_needs_a_login() -> None:
    response = Client().get(reverse("accounts:api-keys"))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_user_revokes_their_key_on_the_page(manager: User) -> None:
    key, _ = services.api_key_create(owner=manager, name="x", scope="read")

    _logged_in(manager).post(reverse("accounts:api-key-revoke", args=[key.pk]))

    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_user_cannot_revoke_someone_elses_key(manager: User) -> None:
    key, _ = services.api_key_create(owner=user_with_role(roles.CAMPAIGN_MANAGER), name="x", scope="read")

    response = _logged_in(manager).post(reverse("accounts:api-key-revoke", args=[key.pk]))

    key.refresh_from_db()
    assert response.status_code == 404
    assert key.revoked_at is None


def test_an_admin_revokes_anyones_key(admin_user: User, manager: User) -> None:
    key, _ = services.api_key_create(owner=manager, name="x", scope="read")

    _logged_in(admin_user).post(reverse("accounts:api-key-revoke", args=[key.pk]))

    key.refresh_from_db()
    assert key.revoked_at is not None


def test_revoking_twice_keeps_the_first_time(manager: User) -> None:
    key, _ = services.api_key_create(owner=manager, name="x", scope="read")
    services.api_key_revoke(key=key)
    first = ApiKey.objects.get(pk=key.pk).revoked_at

    assert services.api_key_revoke(key=key) is False
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first


def test_the_admin_lists_keys_without_their_hash(admin_user: User, manager: User) -> None:
    key, _ = services.api_key_create(owner=manager, name="x", scope="read")
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])

    response = _logged_in(admin_user).get(reverse("admin:accounts_apikey_change", args=[key.pk]))

    assert response.status_code == 200
    assert key.hashed_secret not in response.content.decode()
