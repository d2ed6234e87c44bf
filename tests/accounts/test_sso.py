"""Issue 18 §1: single sign-on with OpenID Connect against a local provider (tests/accounts/oidc_provider.py),
the IdP's group claim mapped to Herald's roles."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlparse

import pytest
import requests
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client

from accounts import roles
from tests.accounts.oidc_provider import LocalOIDCProvider, local_oidc_provider
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings) -> Iterator[LocalOIDCProvider]:  # type: ignore[no-untyped-def]
    with local_oidc_provider() as idp:
        for name, value in idp.settings().items():
            setattr(settings, name, value)
        settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.oidc.HeraldOIDCBackend"]
        settings.OIDC_ROLE_CLAIM = "groups"
        settings.OIDC_ROLE_MAP = "herald-admins:Admin,herald-managers:Campaign Manager,herald-viewers:Viewer"
        idp.user = {
            "sub": "idp-user-1",
            "email": "ann@example.com",
            "email_verified": True,
            "preferred_username": "ann",
            "given_name": "Ann",
            "groups": ["staff", "herald-managers"],
        }
        yield idp


def _sign_in(client: Client, idp: LocalOIDCProvider) -> HttpResponse:
    """The browser's trip: Herald -> the provider's authorize URL -> back to Herald's callback with the code."""
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302
    assert start["Location"].startswith(f"{idp.base_url}/authorize?")
    at_idp = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_idp.status_code == 302
    callback = urlparse(at_idp.headers["Location"])
    return client.get(callback.path, dict(parse_qsl(callback.query)))  # type: ignore[return-value]


def _signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return None if user_id is None else User.objects.get(pk=user_id)


def test_a_first_sso_sign_in_creates_the_user_with_the_mapped_role(provider: LocalOIDCProvider) -> None:
    client = Client()

    response = _sign_in(client, provider)

    user = _signed_in_user(client)
    assert response.status_code == 302
    assert user is not None
    assert (user.username, user.email, user.first_name) == ("ann", "ann@example.com", "Ann")
    assert roles.role_name(user) == roles.CAMPAIGN_MANAGER
    assert not user.has_usable_password()


def test_after_sso_the_dashboard_opens(provider: LocalOIDCProvider) -> None:
    client = Client()
    _sign_in(client, provider)

    assert client.get("/campaigns/").status_code == 200


def test_the_widest_mapped_group_wins(provider: LocalOIDCProvider) -> None:
    provider.user["groups"] = ["herald-viewers", "herald-admins"]
    client = Client()

    _sign_in(client, provider)

    user = _signed_in_user(client)
    assert user is not None and roles.role_name(user) == roles.ADMIN


def test_a_role_changed_at_the_idp_applies_at_the_next_sign_in(provider: LocalOIDCProvider) -> None:
    _sign_in(Client(), provider)
    provider.user["groups"] = ["herald-viewers"]
    client = Client()

    _sign_in(client, provider)

    user = _signed_in_user(client)
    assert user is not None
    assert list(user.groups.values_list("name", flat=True)) == [roles.VIEWER]


def test_an_existing_user_with_the_same_email_is_signed_in_not_duplicated(provider: LocalOIDCProvider) -> None:
    existing = user_with_role(roles.VIEWER)
    provider.user["email"] = existing.email.upper()
    client = Client()

    _sign_in(client, provider)

    assert _signed_in_user(client) == existing
    assert User.objects.count() == 1
    assert roles.role_name(existing) == roles.CAMPAIGN_MANAGER


def test_someone_in_no_mapped_group_cannot_sign_in(provider: LocalOIDCProvider) -> None:
    provider.user["groups"] = ["staff"]
    client = Client()

    response = _sign_in(client, provider)

    assert _signed_in_user(client) is None
    assert not User.objects.exists()
    assert response["Location"].startswith("/login/")


def test_an_unverified_email_cannot_sign_in(provider: LocalOIDCProvider) -> None:
    provider.user["email_verified"] = False
    client = Client()

    _sign_in(client, provider)

    assert _signed_in_user(client) is None


def test_the_role_claim_and_map_are_settings(provider: LocalOIDCProvider, settings) -> None:  # type: ignore[no-untyped-def]
    settings.OIDC_ROLE_CLAIM = "roles"
    settings.OIDC_ROLE_MAP = "ops:Admin"
    provider.user["roles"] = "ops"
    client = Client()

    _sign_in(client, provider)

    user = _signed_in_user(client)
    assert user is not None and roles.role_name(user) == roles.ADMIN


def test_the_code_goes_to_the_providers_token_endpoint_with_the_client_secret(provider: LocalOIDCProvider) -> None:
    _sign_in(Client(), provider)

    [request] = provider.token_requests
    assert (request["grant_type"], request["client_id"]) == ("authorization_code", "herald-test")
    assert request["redirect_uri"] == "http://testserver/oidc/callback/"


def test_the_login_page_offers_sso_when_it_is_configured(provider: LocalOIDCProvider) -> None:
    page = Client().get("/login/").content.decode()

    assert "Sign in with SSO" in page
    assert 'href="/oidc/authenticate/' in page


def test_without_oidc_settings_there_is_no_sso_button_and_no_endpoint() -> None:
    client = Client()

    assert "Sign in with SSO" not in client.get("/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/").status_code == 404
