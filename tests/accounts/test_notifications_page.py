"""Issue 12: opening the notifications list marks what it shows read (still marked new on that first view)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import Notification
from accounts.services import notification_create

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_opening_the_notifications_list_marks_them_read(viewer: User) -> None:
    notification_create(user=viewer, title="Completed: “Hi {{ first_name }}”")
    response = _client(viewer).get(reverse("accounts:notifications"))
    assert response.status_code == 200
    assert Notification.objects.filter(user=viewer, read_at__isnull=True).count() == 0


def test_notifications_are_shown_as_new_on_the_view_that_reads_them(viewer: User) -> None:
    notification_create(user=viewer, title="Completed")
    body = _client(viewer).get(reverse("accounts:notifications")).content.decode()
    assert ">new</span>" in body
    assert ">new</span>" not in _client(viewer).get(reverse("accounts:notifications")).content.decode()


def test_opening_the_list_leaves_other_users_notifications_unread(viewer: User, manager: User) -> None:
    notification_create(user=manager, title="Theirs")
    _client(viewer).get(reverse("accounts:notifications"))
    assert Notification.objects.get(user=manager).read_at is None


def test_notification_titles_show_subject_placeholders_not_template_tags(viewer: User) -> None:
    notification_create(user=viewer, title="Completed: “Hi {{ first_name }}”")
    body = _client(viewer).get(reverse("accounts:notifications")).content.decode()
    assert "Hi «first name»" in body
    assert "{{ first_name }}" not in body
