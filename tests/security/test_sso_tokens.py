"""Issue 18 §1: the SSO callback refuses id_tokens that are not for Herald, and callbacks it did not start."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlparse

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client

from tests.accounts.oidc_provider import LocalOIDCProvider, local_oidc_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings) -> Iterator[LocalOIDCProvider]:  # type: ignore[no-untyped-def]
    with local_oidc_provider() as idp:
        for name, value in idp.settings().items():
            setattr(settings, name, value)
        settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.oidc.HeraldOIDCBackend"]
        idp.user = {"sub": "x-1", "email": "eve@example.com", "email_verified": True, "groups": ["herald-admins"]}
        yield idp


def _callback(client: Client, idp: LocalOIDCProvider) -> tuple[str, dict[str, str]]:
    start = client.get("/oidc/authenticate/")
    at_idp = requests.get(start["Location"], allow_redirects=False, timeout=10)
    callback = urlparse(at_idp.headers["Location"])
    return callback.path, dict(parse_qsl(callback.query))


def test_an_id_token_issued_for_another_client_signs_nobody_in(provider: LocalOIDCProvider) -> None:
    provider.id_token_overrides = {"aud": "some-other-app"}
    client = Client()
    path, query = _callback(client, provider)

    response = client.get(path, query)

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    assert not User.objects.exists()


def test_an_id_token_from_another_issuer_signs_nobody_in(provider: LocalOIDCProvider) -> None:
    provider.id_token_overrides = {"iss": "https://evil.example"}
    client = Client()
    path, query = _callback(client, provider)

    response = client.get(path, query)

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_a_callback_this_browser_did_not_start_signs_nobody_in(provider: LocalOIDCProvider) -> None:
    path, query = _callback(Client(), provider)  # the attacker's own flow...
    victim = Client()

    victim.get(path, query)  # ...replayed into someone else's browser (login CSRF)

    assert "_auth_user_id" not in victim.session
    assert not User.objects.exists()
