"""How an import seals mobile numbers (contacts/importing/sealing.py): a re-import holds the numbers and encrypts only
those the merge writes; a large file of new numbers is sealed by a child process (contacts/sealer.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.utils import timezone

from contacts import crypto
from contacts.importing import pipeline, sealing
from contacts.importing.sealing import HeldNumbers
from contacts.importing.staging import Staging
from contacts.models import Contact
from contacts.sealer import ROOT, Sealer
from contacts.tokens import TOKEN_PREFIX, blind_hasher, open_token, token_key
from tests.privacy.conftest import run_import

ROWS = "".join(f"p{i}@seal.example,+44 7700 90{i:04d}\n" for i in range(6))


def _stored(email: str) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile, mobile_hash FROM contacts_contact WHERE email = %s", [email])
        row = cursor.fetchone()
    return row[0], row[1]


def _all_stored() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, mobile, mobile_hash FROM contacts_contact ORDER BY email")
        return list(cursor.fetchall())


@pytest.fixture
def sealed_lines(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The lines each held import asked tokens for."""
    asked: list[list[int]] = []
    original = HeldNumbers.seal

    def spy(self: HeldNumbers, lines: Any) -> Any:
        asked.append(list(lines))
        return original(self, lines)

    monkeypatch.setattr(HeldNumbers, "seal", spy)
    return asked


@pytest.fixture
def sealers(monkeypatch: pytest.MonkeyPatch) -> list[Sealer]:
    """Chunks of two rows and a sealer from a first chunk of two; the sealers started, for the test to look at."""
    started: list[Sealer] = []

    class Spy(Sealer):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            started.append(self)

    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 2)
    monkeypatch.setattr(pipeline, "FIRST_CHUNK_ROWS", 2)
    monkeypatch.setattr(sealing, "SEALER_MIN_ROWS", 2)
    monkeypatch.setattr(sealing, "Sealer", Spy)
    return started


@pytest.mark.django_db
def test_reimport_keeps_the_stored_ciphertext_and_encrypts_nothing(media: Any, sealed_lines: list[list[int]]) -> None:
    run_import("email,first_name,mobile\na@enc.example,Ann,+44 7700 900002\n")
    before = _stored("a@enc.example")

    job = run_import("email,first_name,mobile\na@enc.example,Anna,+44 7700 900002\n")

    assert job.updated == 1 and _stored("a@enc.example") == before
    assert Contact.objects.get().first_name == "Anna" and Contact.objects.get().mobile == "+44 7700 900002"
    assert sealed_lines == []  # the contact changed, its number did not: nothing encrypted


@pytest.mark.django_db
def test_reimport_encrypts_a_changed_mobile(media: Any) -> None:
    run_import("email,mobile\na@enc.example,+44 7700 900002\n")

    run_import("email,mobile\na@enc.example,+44 7700 900003\n")

    mobile, mobile_hash = _stored("a@enc.example")
    assert crypto.decrypt(mobile) == "+44 7700 900003" and mobile_hash == crypto.mobile_hash("+44 7700 900003")


@pytest.mark.django_db
def test_a_held_import_seals_its_new_contacts_numbers(media: Any, sealed_lines: list[list[int]]) -> None:
    run_import("email,mobile\na@enc.example,+44 7700 900002\n")

    job = run_import("email,mobile\na@enc.example,+44 7700 900002\nb@enc.example,+44 7700 900004\n")

    assert (job.created, job.unchanged) == (1, 1)
    assert sealed_lines == [[3]]
    mobile, mobile_hash = _stored("b@enc.example")
    assert crypto.decrypt(mobile) == "+44 7700 900004" and mobile_hash == crypto.mobile_hash("+44 7700 900004")


@pytest.mark.django_db
def test_a_contact_whose_number_changed_after_staging_gets_the_files_number(media: Any) -> None:
    run_import("email,mobile\na@enc.example,+44 7700 900002\n")

    with Staging("contacts") as stage:
        with stage.streaming() as write:
            write([(2, "a@enc.example", None, None, "+44 7700 900002", None, None, None)])
        with connection.cursor() as cursor:  # another writer changes the number before the merge
            cursor.execute("UPDATE contacts_contact SET mobile_hash = 'changed-meanwhile'")
        result = stage.merge_contacts(types={}, now=timezone.now())

    assert stage.held is not None and result.errors == [] and result.updated == 1
    mobile, mobile_hash = _stored("a@enc.example")
    assert crypto.decrypt(mobile) == "+44 7700 900002" and mobile_hash == crypto.mobile_hash("+44 7700 900002")


@pytest.mark.django_db
def test_a_file_of_new_numbers_is_not_held(media: Any) -> None:
    run_import("email,mobile\nold@enc.example,+44 7700 900001\n")

    with Staging("contacts") as stage, stage.streaming() as write:
        write([(2, "new@enc.example", None, None, "+44 7700 900002", None, None, None)])

    assert stage.held is None


def test_held_numbers_give_back_the_numbers_of_the_lines_asked() -> None:
    held = HeldNumbers()
    held.add([(2, "a", None, None, "+1 1", None, None, None), (3, "b", None, None, None, None, None, None)])
    held.add([(7, "c", None, None, "line\nbreak", None, None, None), (9, "d", None, None, "+1 9", None, None, None)])

    assert held.numbers([2, 3, 7, 8, 9]) == [(2, "+1 1"), (7, "line\nbreak"), (9, "+1 9")]
    assert held.numbers([4, 5]) == []


@pytest.mark.django_db
def test_the_sealer_process_stores_tokens_and_blind_indexes_like_this_process(
    media: Any, sealers: list[Sealer]
) -> None:
    run_import("email,mobile\n" + ROWS)

    assert len(sealers) == 1 and sealers[0].proc.returncode == 0  # started, and ended with the import
    stored = _all_stored()
    assert len(stored) == 6
    for i, (_, token, blind) in enumerate(stored):
        assert token.startswith(TOKEN_PREFIX) and crypto.decrypt(token) == f"+44 7700 90{i:04d}"
        assert blind == crypto.mobile_hash(f"+44 7700 90{i:04d}")


@pytest.mark.django_db
def test_a_large_reimport_asks_the_sealer_for_blind_indexes_only(
    media: Any, sealers: list[Sealer], sealed_lines: list[list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_import("email,mobile\n" + ROWS)
    before = _all_stored()
    asked: list[bool] = []
    original = Sealer.send

    def spy(self: Sealer, numbers: Any, *, tokens: bool = True) -> bool:
        asked.append(tokens)
        return original(self, numbers, tokens=tokens)

    monkeypatch.setattr(Sealer, "send", spy)

    job = run_import("email,mobile\n" + ROWS)

    assert len(sealers) == 2 and asked == [False, False, False]
    assert (job.unchanged, job.updated) == (6, 0) and _all_stored() == before and sealed_lines == []


@pytest.mark.django_db
def test_a_sealer_that_dies_mid_import_leaves_the_rest_to_this_process(
    media: Any, sealers: list[Sealer], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Sealer.receive

    def killed(self: Sealer) -> Any:
        self.proc.kill()
        self.proc.wait()
        return original(self)

    monkeypatch.setattr(Sealer, "receive", killed)

    job = run_import("email,mobile\n" + ROWS)

    assert job.created == 6
    assert sorted(c.mobile for c in Contact.objects.all()) == [f"+44 7700 90{i:04d}" for i in range(6)]


@pytest.mark.django_db
def test_a_sealer_that_does_not_start_leaves_the_import_to_this_process(
    media: Any, sealers: list[Sealer], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: Any) -> Sealer:
        raise OSError("no processes left")

    monkeypatch.setattr(sealing, "Sealer", refused)

    job = run_import("email,mobile\n" + ROWS)

    assert job.created == 6 and sealers == []
    assert Contact.objects.get(email="p5@seal.example").mobile == "+44 7700 900005"


def test_the_sealer_sends_a_number_with_a_newline_back_to_this_process() -> None:
    fernet_key = Fernet.generate_key().decode()
    sealer = Sealer(fernet_key, b"k" * 32)
    try:
        assert sealer.send(["+1\n2", "+1 3"]) is False
        assert sealer.send(["+1 4", ""]) is True
        hashes, tokens = sealer.receive()
    finally:
        sealer.close()

    assert hashes == [blind_hasher(b"k" * 32)("+1 4"), ""] and tokens[1] == ""
    assert open_token([token_key(fernet_key)], tokens[0]) == b"+1 4"
    assert sealer.proc.returncode == 0


def test_the_sealer_process_imports_no_django() -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import sys, contacts.sealer; print('django' in sys.modules)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    assert found.stdout.strip() == "False"


def test_the_sealer_answers_whole_while_it_is_stopped_and_continued_mid_answer() -> None:
    """SIGSTOP / SIGCONT (a paused container, Ctrl-Z, a profiler attaching) interrupt the child's large writes: the
    buffered writer lost the middle of an answer then, and the chunk fell back to this process."""
    fernet_key, hash_key = Fernet.generate_key().decode(), b"k" * 32
    numbers = [f"+44 7700 {i:06d}" for i in range(25_000)]
    sealer = Sealer(fernet_key, hash_key)
    poker = subprocess.Popen(
        ["bash", "-c", f"while :; do kill -STOP {sealer.proc.pid}; sleep .002; kill -CONT {sealer.proc.pid}; done"]
    )
    answers: list[tuple[list[str], list[str]]] = []

    def exchange() -> None:
        for _ in range(4):
            assert sealer.send(numbers)
            answers.append(sealer.receive())

    worker = threading.Thread(target=exchange, daemon=True)
    try:
        worker.start()
        worker.join(timeout=60)  # an answer that lost its middle leaves receive() waiting for bytes never sent
    finally:
        poker.kill()
        poker.wait()
        subprocess.run(["kill", "-CONT", str(sealer.proc.pid)], check=False)
        if worker.is_alive():
            sealer.stop()
        sealer.close()

    assert len(answers) == 4
    digest = blind_hasher(hash_key)
    for hashes, tokens in answers:
        assert hashes == [digest(n) for n in numbers]
        assert open_token([token_key(fernet_key)], tokens[-1]) == numbers[-1].encode()
    assert sealer.proc.returncode == 0
