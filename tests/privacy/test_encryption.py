"""Issue 18 §2: mobile numbers and sensitive attributes are encrypted at rest; key rotation; rules refused."""

from __future__ import annotations

import hashlib
import importlib
import io
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from contacts import crypto, protect
from contacts import services as contact_services
from contacts.models import Contact, ContactAttribute, SensitiveAttribute
from contacts.tokens import TOKEN_PREFIX
from segments.errors import RuleError
from segments.rules import rules_contact_ids
from tests.privacy.conftest import run_import


def _all(condition: dict[str, Any]) -> dict[str, Any]:
    return {"op": "and", "conditions": [condition]}


def _raw(sql: str, params: list[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_mobile_is_stored_encrypted_and_read_plain(db: None) -> None:
    contact = contact_services.contact_create(email="a@enc.example", mobile="+44 7700 900001")

    stored = _raw("SELECT mobile FROM contacts_contact WHERE id = %s", [contact.pk])

    assert stored.startswith(TOKEN_PREFIX) and "7700" not in stored
    assert Contact.objects.get(pk=contact.pk).mobile == "+44 7700 900001"


@pytest.mark.django_db
def test_import_stores_mobiles_encrypted(media: Any) -> None:
    run_import("email,mobile\na@enc.example,+44 7700 900002\n")

    stored = _raw("SELECT mobile FROM contacts_contact WHERE email = %s", ["a@enc.example"])

    assert crypto.decrypt(stored) == "+44 7700 900002" and stored != "+44 7700 900002"


@pytest.mark.django_db
def test_reimport_of_the_same_mobile_is_unchanged(media: Any) -> None:
    run_import("email,mobile\na@enc.example,+44 7700 900002\n")

    again = run_import("email,mobile\na@enc.example,+44 7700 900002\n")
    changed = run_import("email,mobile\na@enc.example,+44 7700 900003\n")

    assert (again.unchanged, changed.updated) == (1, 1)
    assert Contact.objects.get().mobile == "+44 7700 900003"


@pytest.mark.django_db
def test_rotation_reencrypts_under_the_new_first_key(db: None, settings: Any) -> None:
    contact = contact_services.contact_create(email="a@enc.example", mobile="+44 7700 900004")
    old = list(settings.HERALD_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.HERALD_ENCRYPTION_KEYS = [new_key, *old]

    call_command("rotate_encryption_keys", stdout=io.StringIO(), stderr=io.StringIO())
    settings.HERALD_ENCRYPTION_KEYS = [new_key]

    assert Contact.objects.get(pk=contact.pk).mobile == "+44 7700 900004"


@pytest.mark.django_db
def test_a_mobile_token_is_compact(db: None) -> None:
    contact = contact_services.contact_create(email="a@enc.example", mobile="+44 7397236329")

    stored = _raw("SELECT mobile FROM contacts_contact WHERE id = %s", [contact.pk])
    blind = _raw("SELECT mobile_hash FROM contacts_contact WHERE id = %s", [contact.pk])

    # Every import writes, sorts and indexes these (a Fernet token took 100 characters, the blind index 32).
    assert (len(stored), len(blind)) == (57, 16)


@pytest.mark.django_db
def test_a_batch_keeps_an_empty_value_empty_in_its_place(db: None) -> None:
    tokens = crypto.encrypt_many(["+44 7700 900010", "", "+44 7700 900011"])

    assert tokens[1] == ""
    assert [crypto.decrypt(tokens[0]), crypto.decrypt(tokens[2])] == ["+44 7700 900010", "+44 7700 900011"]


@pytest.mark.django_db
def test_a_mobile_stored_as_a_fernet_token_is_still_read(db: None) -> None:
    contact = contact_services.contact_create(email="a@enc.example")
    legacy = crypto.fernet().encrypt(b"+44 7700 900005").decode()
    _raw("UPDATE contacts_contact SET mobile = %s WHERE id = %s RETURNING id", [legacy, contact.pk])

    assert Contact.objects.get(pk=contact.pk).mobile == "+44 7700 900005"


@pytest.mark.django_db
def test_rotation_rewrites_fernet_tokens_in_the_current_format(db: None) -> None:
    contact = contact_services.contact_create(email="a@enc.example")
    legacy = crypto.fernet().encrypt(b"+44 7700 900006").decode()
    _raw("UPDATE contacts_contact SET mobile = %s WHERE id = %s RETURNING id", [legacy, contact.pk])

    call_command("rotate_encryption_keys", stdout=io.StringIO(), stderr=io.StringIO())

    stored = _raw("SELECT mobile FROM contacts_contact WHERE id = %s", [contact.pk])
    assert stored.startswith(TOKEN_PREFIX) and crypto.decrypt(stored) == "+44 7700 900006"


@pytest.mark.django_db
def test_a_token_under_a_removed_key_is_shown_as_stored(db: None, settings: Any) -> None:
    token = crypto.encrypt("+44 7700 900007")
    settings.HERALD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    assert crypto.decrypt(token) == token and not crypto.is_encrypted(token)


@pytest.mark.django_db
def test_rotation_leaves_a_token_no_configured_key_opens_as_it_is(db: None, settings: Any) -> None:
    contact = contact_services.contact_create(email="a@enc.example", mobile="+44 7700 900009")
    token = _raw("SELECT mobile FROM contacts_contact WHERE id = %s", [contact.pk])
    blind = _raw("SELECT mobile_hash FROM contacts_contact WHERE id = %s", [contact.pk])
    old = list(settings.HERALD_ENCRYPTION_KEYS)
    settings.HERALD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key removed too early
    err = io.StringIO()

    call_command("rotate_encryption_keys", stdout=io.StringIO(), stderr=err)

    assert _raw("SELECT mobile FROM contacts_contact WHERE id = %s", [contact.pk]) == token
    assert _raw("SELECT mobile_hash FROM contacts_contact WHERE id = %s", [contact.pk]) == blind
    assert "1 stored values were encrypted under a key that is no longer" in err.getvalue()
    settings.HERALD_ENCRYPTION_KEYS = old  # the key put back: the number reads again
    assert Contact.objects.get(pk=contact.pk).mobile == "+44 7700 900009"


@pytest.mark.django_db
def test_rotation_leaves_a_sensitive_value_no_configured_key_opens_as_it_is(media: Any, settings: Any) -> None:
    run_import("email,diagnosis\na@enc.example,asthma\n")
    protect.sensitive_attribute_mark(name="diagnosis")
    stored = _raw("SELECT field_value::text FROM contacts_contactattribute WHERE field_name = %s", ["diagnosis"])
    settings.HERALD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    counts = protect.encryption_rotate()

    assert counts["unreadable"] == 1 and counts["attributes"] == 0
    assert (
        _raw("SELECT field_value::text FROM contacts_contactattribute WHERE field_name = %s", ["diagnosis"]) == stored
    )


@pytest.mark.django_db
def test_blind_indexes_cut_by_the_upgrade_still_match_a_reimport(media: Any, settings: Any) -> None:
    run_import("email,mobile\na@enc.example,+44 7700 900008\n")
    # As stored before contacts 0011: the keyed BLAKE2b's 128 bits in hex.
    key = settings.HERALD_HASH_KEY.encode()[:64]
    whole = hashlib.blake2b(b"+44 7700 900008", key=key, digest_size=16, person=b"herald-mobile").hexdigest()
    _raw("UPDATE contacts_contact SET mobile_hash = %s RETURNING id", [whole])
    upgrade = importlib.import_module("contacts.migrations.0011_blind_index_64_bits").Migration.operations[0]
    _raw(upgrade.sql + " RETURNING id", [])

    again = run_import("email,mobile\na@enc.example,+44 7700 900008\n")

    assert again.unchanged == 1


@pytest.mark.django_db
def test_marking_an_attribute_sensitive_encrypts_its_stored_values(media: Any) -> None:
    run_import("email,diagnosis\na@enc.example,asthma\n")

    protect.sensitive_attribute_mark(name="diagnosis")

    stored = _raw("SELECT field_value::text FROM contacts_contactattribute WHERE field_name = %s", ["diagnosis"])
    assert "asthma" not in stored and crypto.ATTRIBUTE_PREFIX in stored
    assert ContactAttribute.objects.get().field_value == "asthma"


@pytest.mark.django_db
def test_import_encrypts_values_of_sensitive_attributes(media: Any) -> None:
    SensitiveAttribute.objects.create(name="diagnosis")

    run_import("email,diagnosis,plan\na@enc.example,asthma,gold\n")

    raw = dict(ContactAttribute.objects.values_list("field_name").annotate().values_list("field_name", "field_value"))
    stored = _raw("SELECT field_value::text FROM contacts_contactattribute WHERE field_name = %s", ["diagnosis"])
    assert "asthma" not in stored
    assert raw == {"diagnosis": "asthma", "plan": "gold"}


@pytest.mark.django_db
def test_unmarking_decrypts_the_values_again(media: Any) -> None:
    run_import("email,diagnosis\na@enc.example,asthma\n")
    protect.sensitive_attribute_mark(name="diagnosis")

    protect.sensitive_attribute_unmark(name="diagnosis")

    stored = _raw("SELECT field_value::text FROM contacts_contactattribute WHERE field_name = %s", ["diagnosis"])
    assert stored == '"asthma"'


@pytest.mark.django_db
def test_rules_on_a_sensitive_attribute_are_refused(db: None) -> None:
    SensitiveAttribute.objects.create(name="diagnosis")

    with pytest.raises(RuleError, match="sensitive"):
        rules_contact_ids(_all({"attribute": "diagnosis", "operator": "eq", "value": "asthma"}))


@pytest.mark.django_db
def test_rules_on_the_mobile_value_are_refused_but_is_set_works(db: None) -> None:
    contact_services.contact_create(email="a@enc.example", mobile="+44 7700 900005")
    contact_services.contact_create(email="b@enc.example")

    with pytest.raises(RuleError, match="encrypted"):
        rules_contact_ids(_all({"field": "contact.mobile", "operator": "eq", "value": "+44 7700 900005"}))
    assert rules_contact_ids(_all({"field": "contact.mobile", "operator": "is_set"})).count() == 1


@pytest.mark.django_db
def test_admin_marking_an_attribute_sensitive_encrypts_it(media: Any, client: Any, admin_user: Any) -> None:
    run_import("email,diagnosis\na@enc.example,asthma\n")
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)

    response = client.post("/admin/contacts/sensitiveattribute/add/", {"name": "diagnosis"})

    assert response.status_code == 302
    stored = _raw("SELECT field_value::text FROM contacts_contactattribute WHERE field_name = %s", ["diagnosis"])
    assert "asthma" not in stored


@pytest.mark.parametrize("value", [None, ""])
def test_production_refuses_to_boot_without_encryption_keys(monkeypatch: pytest.MonkeyPatch, value: Any) -> None:
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    from tests.security.test_production_settings import _production_env

    for name, setting in _production_env().items():
        monkeypatch.setenv(name, setting)
    if value is None:
        monkeypatch.delenv("HERALD_ENCRYPTION_KEYS")
    else:
        monkeypatch.setenv("HERALD_ENCRYPTION_KEYS", value)

    with pytest.raises(ImproperlyConfigured, match="HERALD_ENCRYPTION_KEYS"):
        importlib.reload(importlib.import_module("config.settings.production"))


@pytest.mark.django_db
def test_a_send_renders_the_plain_mobile(db: None, settings: Any) -> None:
    from delivery import services as delivery_services
    from delivery.models import OutboxMessage

    settings.EMAIL_TRANSPORT = "outbox"
    contact = contact_services.contact_create(email="a@enc.example", mobile="+44 7700 900006")
    send = delivery_services.send_create(label="t", subject="s", body_text="Call {{ mobile }}")
    delivery_services.send_start(send_id=send.pk, audience=Contact.objects.filter(pk=contact.pk).values("pk"))

    delivery_services.page_send(send_id=send.pk, page=0)

    assert "Call +44 7700 900006" in OutboxMessage.objects.get().body_text
