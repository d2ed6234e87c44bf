"""Issue 18 §1: an audit log of who changed what (django-auditlog), viewable by Admins."""

from __future__ import annotations

from typing import cast

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import roles, services
from accounts.models import ApiKey
from campaigns.models import Campaign
from templates_app.models import MessageTemplate
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _entries(model: type) -> list[LogEntry]:
    return list(LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model)).order_by("pk"))


def test_a_campaign_changed_through_the_api_is_logged_with_the_token_owner(api: APIClient, manager: User) -> None:
    campaign = cast(Campaign, CampaignFactory(created_by=manager))

    api.patch(f"/api/v1/campaigns/{campaign.pk}", {"description": "Seasonal"}, format="json")

    last = _entries(Campaign)[-1]
    assert (last.action, last.actor, last.changes_dict["description"][1]) == (
        LogEntry.Action.UPDATE,
        manager,
        "Seasonal",
    )


def test_a_template_created_with_an_api_key_is_logged_with_the_keys_owner(manager: User) -> None:
    _, raw = services.api_key_create(owner=manager, name="x", scope="write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    client.post(
        "/api/v1/templates", {"name": "A", "subject": "S", "message": "x", "templating_type": "text"}, format="json"
    )

    [created] = _entries(MessageTemplate)
    assert (created.action, created.actor) == (LogEntry.Action.CREATE, manager)


def test_a_role_change_is_logged(manager: User) -> None:
    manager.groups.add(Group.objects.get(name=roles.ADMIN))

    last = _entries(User)[-1]
    assert last.changes_dict["groups"]["operation"] == "add"
    assert roles.ADMIN in last.changes_dict["groups"]["objects"]


def test_an_api_key_revoked_on_the_dashboard_is_logged_with_who_revoked_it(admin_user: User, manager: User) -> None:
    key, _ = services.api_key_create(owner=manager, name="x", scope="read")

    _logged_in(admin_user).post(reverse("accounts:api-key-revoke", args=[key.pk]))

    created, revoked = _entries(ApiKey)
    assert created.action == LogEntry.Action.CREATE
    assert (revoked.actor, list(revoked.changes_dict)) == (admin_user, ["revoked_at"])


def test_no_password_or_key_hash_reaches_the_log(manager: User) -> None:
    manager.set_password("another-pass-123")
    manager.save()
    key, _ = services.api_key_create(owner=manager, name="x", scope="read")

    logged = " ".join(str(entry.changes) for entry in LogEntry.objects.all())
    assert manager.password not in logged
    assert key.hashed_secret not in logged


def test_the_address_recorded_is_the_client_not_a_forged_forwarded_for(api: APIClient, manager: User) -> None:
    campaign = cast(Campaign, CampaignFactory(created_by=manager))

    api.patch(
        f"/api/v1/campaigns/{campaign.pk}",
        {"description": "x"},
        format="json",
        REMOTE_ADDR="192.0.2.7",
        HTTP_X_FORWARDED_FOR="203.0.113.66",
    )

    assert _entries(Campaign)[-1].remote_addr == "192.0.2.7"


@pytest.mark.parametrize("role", [roles.CAMPAIGN_MANAGER, roles.VIEWER])
def test_the_audit_log_page_is_for_admins_only(role: str) -> None:
    from tests.factories import user_with_role

    assert _logged_in(user_with_role(role)).get(reverse("accounts:audit-log")).status_code == 403


def test_an_admin_sees_who_changed_what(admin_user: User, api: APIClient, manager: User) -> None:
    campaign = cast(Campaign, CampaignFactory(created_by=manager))
    api.patch(f"/api/v1/campaigns/{campaign.pk}", {"description": "Seasonal"}, format="json")

    page = _logged_in(admin_user).get(reverse("accounts:audit-log")).content.decode()

    assert manager.username in page
    assert "Seasonal" in page


def test_the_audit_log_page_filters_by_what_changed(admin_user: User, manager: User) -> None:
    CampaignFactory(created_by=manager)
    services.api_key_create(owner=manager, name="x", scope="read")
    campaign_type = ContentType.objects.get_for_model(Campaign)

    page = _logged_in(admin_user).get(reverse("accounts:audit-log"), {"model": campaign_type.pk}).context["page"]

    assert {entry.content_type_id for entry in page} == {campaign_type.pk}


def test_the_audit_log_page_filters_by_who(admin_user: User, api: APIClient, manager: User) -> None:
    campaign = cast(Campaign, CampaignFactory(created_by=manager))
    api.patch(f"/api/v1/campaigns/{campaign.pk}", {"description": "x"}, format="json")

    page = _logged_in(admin_user).get(reverse("accounts:audit-log"), {"actor": manager.username}).context["page"]

    assert [entry.actor for entry in page] == [manager]


def test_the_audit_log_page_is_paginated_by_fifty(admin_user: User) -> None:
    for _ in range(51):
        CampaignFactory()

    client = _logged_in(admin_user)
    first = client.get(reverse("accounts:audit-log")).context["page"]
    second = client.get(reverse("accounts:audit-log"), {"page": 2}).context["page"]

    assert (len(first.object_list), first.paginator.num_pages) == (50, 2)
    assert len(second.object_list) >= 1


def test_the_audit_log_is_in_the_admin(admin_user: User) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    CampaignFactory()

    assert _logged_in(admin_user).get("/admin/auditlog/logentry/").status_code == 200
