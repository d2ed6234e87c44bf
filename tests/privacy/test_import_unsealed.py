"""The import encrypts only new and changed mobile numbers: a number its contact already stores keeps its stored
ciphertext (contacts/importing/staging.py `Staging.protect`, contact_merge.py `_check_unsealed`)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from contacts import crypto
from contacts.importing.contact_merge import UNSEALED_MESSAGE
from contacts.importing.staging import Staging
from contacts.models import Contact
from tests.privacy.conftest import run_import


def _stored(email: str) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile, mobile_hash FROM contacts_contact WHERE email = %s", [email])
        row = cursor.fetchone()
    return row[0], row[1]


@pytest.mark.django_db
def test_reimport_keeps_the_stored_ciphertext_of_an_unchanged_mobile(media: Any) -> None:
    run_import("email,first_name,mobile\na@enc.example,Ann,+44 7700 900002\n")
    before = _stored("a@enc.example")

    job = run_import("email,first_name,mobile\na@enc.example,Anna,+44 7700 900002\n")

    assert job.updated == 1 and _stored("a@enc.example") == before
    assert Contact.objects.get().first_name == "Anna" and Contact.objects.get().mobile == "+44 7700 900002"


@pytest.mark.django_db
def test_reimport_encrypts_a_changed_mobile(media: Any) -> None:
    run_import("email,mobile\na@enc.example,+44 7700 900002\n")

    run_import("email,mobile\na@enc.example,+44 7700 900003\n")

    mobile, mobile_hash = _stored("a@enc.example")
    assert crypto.decrypt(mobile) == "+44 7700 900003" and mobile_hash == crypto.mobile_hash("+44 7700 900003")


@pytest.mark.django_db
def test_a_row_whose_contact_changed_number_after_staging_is_an_error(media: Any) -> None:
    run_import("email,mobile\na@enc.example,+44 7700 900002\n")
    before = _stored("a@enc.example")

    with Staging("contacts") as staging:
        with staging.streaming() as write:
            write([(2, "a@enc.example", None, None, "+44 7700 900002", None, None, None)])
        with connection.cursor() as cursor:  # another writer changes the number before the merge
            cursor.execute("UPDATE contacts_contact SET mobile_hash = 'changed-meanwhile'")
        result = staging.merge_contacts(types={}, now=timezone.now())

    assert staging.unsealed == 1
    assert result.errors == [(2, UNSEALED_MESSAGE)] and _stored("a@enc.example") == (before[0], "changed-meanwhile")


@pytest.mark.django_db
def test_a_file_of_new_numbers_stops_looking_up_stored_ones_after_a_chunk(db: None) -> None:
    asked: list[list[str]] = []

    def stored(emails: list[str]) -> list[str]:
        asked.append(emails)
        return [""] * len(emails)

    staging = Staging("contacts")
    first = staging.protect([(2, "a@enc.example", None, None, "+44 7700 900002", None, None, None)], stored)
    staging.protect([(3, "b@enc.example", None, None, "+44 7700 900003", None, None, None)], stored)

    assert asked == [["a@enc.example"]]
    assert crypto.decrypt(first[0][4]) == "+44 7700 900002"
