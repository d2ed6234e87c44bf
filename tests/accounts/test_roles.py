from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts import roles
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db


def test_migration_creates_the_three_roles() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ALL_ROLES)


def test_viewer_cannot_edit() -> None:
    assert roles.can_edit(user_with_role(roles.VIEWER)) is False


def test_campaign_manager_can_edit_but_is_not_admin() -> None:
    user = user_with_role(roles.CAMPAIGN_MANAGER)
    assert roles.can_edit(user) and not roles.is_admin(user)
