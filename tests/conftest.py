from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import roles
from tests.factories import user_with_role


def pytest_configure(config: pytest.Config) -> None:
    # The suite is about the production engines: refuse to run on anything but PostgreSQL.
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError("Tests need DATABASE_URL=postgres://... (use `make test`).")


@pytest.fixture(autouse=True)
def _role_groups(request: pytest.FixtureRequest) -> None:
    """Every database test starts with the role groups the `0002_roles` migration makes.

    Transactional tests (the end-to-end ones, whose worker is another process) flush every table at teardown,
    migration data included; putting the groups back here keeps later tests independent of the order.
    """
    uses_db = request.node.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db"} & set(request.fixturenames)
    )
    if not uses_db:
        return
    request.getfixturevalue("db")
    for name in roles.ALL_ROLES:
        Group.objects.get_or_create(name=name)


@pytest.fixture
def admin_user(db: None) -> User:
    return user_with_role(roles.ADMIN)


@pytest.fixture
def manager(db: None) -> User:
    return user_with_role(roles.CAMPAIGN_MANAGER)


@pytest.fixture
def viewer(db: None) -> User:
    return user_with_role(roles.VIEWER)


def _api_client(user: User) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(manager: User) -> APIClient:
    """An API client with a Campaign Manager's token."""
    return _api_client(manager)


@pytest.fixture
def admin_api(admin_user: User) -> APIClient:
    return _api_client(admin_user)


@pytest.fixture
def viewer_api(viewer: User) -> APIClient:
    return _api_client(viewer)
