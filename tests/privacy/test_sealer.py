"""A large import seals its mobile numbers (blind index + token) in a child process (contacts/sealer.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from contacts import crypto
from contacts.importing import pipeline, staging
from contacts.models import Contact
from contacts.sealer import Sealer
from tests.privacy.conftest import run_import

ROWS = "".join(f"p{i}@seal.example,+44 7700 90{i:04d}\n" for i in range(6))


@pytest.fixture
def sealers(monkeypatch: pytest.MonkeyPatch) -> list[Sealer]:
    """Chunks of two rows, a sealer from the first chunk on; the sealers started, for the test to look at."""
    started: list[Sealer] = []

    class Spy(Sealer):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            started.append(self)

    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 2)
    monkeypatch.setattr(staging, "SEALER_MIN_ROWS", 2)
    monkeypatch.setattr(staging, "Sealer", Spy)
    return started


def _stored() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, mobile, mobile_hash FROM contacts_contact ORDER BY email")
        return list(cursor.fetchall())


@pytest.mark.django_db
def test_sealer_process_stores_tokens_and_blind_indexes_like_this_process(media: Any, sealers: list[Sealer]) -> None:
    run_import("email,mobile\n" + ROWS)

    assert len(sealers) == 1 and sealers[0].proc.returncode == 0  # started, and ended with the import
    stored = _stored()
    assert len(stored) == 6
    for i, (_, token, blind) in enumerate(stored):
        assert token.startswith(crypto.FERNET_PREFIX) and crypto.decrypt(token) == f"+44 7700 90{i:04d}"
        assert blind == crypto.mobile_hash(f"+44 7700 90{i:04d}")


@pytest.mark.django_db
def test_reimport_through_the_sealer_keeps_the_stored_tokens(media: Any, sealers: list[Sealer]) -> None:
    run_import("email,mobile\n" + ROWS)
    before = _stored()

    job = run_import("email,mobile\n" + ROWS)

    assert (job.unchanged, job.updated) == (6, 0)
    assert _stored() == before


@pytest.mark.django_db
def test_a_sealer_that_dies_mid_import_leaves_the_rest_to_this_process(
    media: Any, sealers: list[Sealer], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Sealer.seal

    def killed(self: Sealer, numbers: Any, known: Any) -> Any:
        self.proc.kill()
        self.proc.wait()
        return original(self, numbers, known)

    monkeypatch.setattr(Sealer, "seal", killed)

    job = run_import("email,mobile\n" + ROWS)

    assert job.created == 6
    assert sorted(c.mobile for c in Contact.objects.all()) == [f"+44 7700 90{i:04d}" for i in range(6)]
