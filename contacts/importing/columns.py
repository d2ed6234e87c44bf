"""What a header means, and how an attribute value is typed and coerced.

Attribute types: a header may declare one (`age:numeric`, `joined:date`); otherwise a column keeps the type its
field already has in the database; otherwise the type is inferred from the column's first values (boolean if all
are true/false/yes/no, numeric if all are numbers, date if all are ISO dates, timestamp if all are ISO
timestamps, array if all are JSON arrays, else string). A value that does not fit its column's type is a row
error, never a silent string. Values reach the staging table as JSON text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii as json_string  # type: ignore[attr-defined]
from typing import Any

import email_validator
from django.utils import timezone

from contacts.models import ContactAttribute

FieldType = ContactAttribute.FieldType
TYPES = {t.value for t in FieldType}

CONTACT_ALIASES: dict[str, str] = {}
for _target, _names in {
    "email": ("email", "email address", "e mail", "e mail address", "mail", "emailaddress"),
    "first_name": ("first name", "firstname", "fname", "given name", "first"),
    "last_name": ("last name", "lastname", "lname", "surname", "family name", "last"),
    "name": ("name", "full name", "fullname", "contact name"),
    "mobile": ("mobile", "phone", "mobile phone", "phone number", "mobile number", "cell", "cell phone", "telephone"),
    "lms_lead_id": ("lms lead id", "lms id", "lead id", "lmsleadid"),
    "status": ("status", "subscription status"),
    "attributes": ("attributes", "attribs"),
}.items():
    CONTACT_ALIASES.update(dict.fromkeys(_names, _target))

EVENT_ALIASES: dict[str, str] = {}
for _target, _names in {
    "email": ("email", "email address", "e mail", "customer email", "contact email"),
    "contact_id": ("contact id", "customer id", "contact", "customer"),
    "funnel_type": ("funnel type", "funnel", "type"),
    "from_stage": ("from stage", "from"),
    "to_stage": ("to stage", "to", "stage"),
    "created_at": ("created at", "created date", "created", "date", "timestamp", "occurred at"),
    "amount": ("amount", "value", "revenue", "order value", "order total", "total"),
}.items():
    EVENT_ALIASES.update(dict.fromkeys(_names, _target))

STATUS_VALUES = {
    "subscribed": "subscribed",
    "enabled": "subscribed",
    "active": "subscribed",
    "unsubscribed": "unsubscribed",
    "blocklisted": "unsubscribed",
    "blacklisted": "unsubscribed",
    "disabled": "unsubscribed",
    "opted out": "unsubscribed",
    "bounced": "bounced",
    "cleaned": "bounced",
    "complained": "complained",
}
FUNNEL_TYPES = {"sales": "sales", "service delivery": "service-delivery"}

# The shape nearly every real address has: an ASCII dot-atom local part of at most 64 characters, a domain with no
# `--` (punycode and R-LDH labels are the validator's to judge) and a letters-only top-level domain that is not a
# special-use name. A strict subset of what `email-validator` accepts, answered in one regex so a million-row import
# pays little more than it did; anything else (Unicode, reserved names, odd punctuation) goes to the validator.
_ATEXT = r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]"
_SPECIAL_USE = "|".join(sorted(email_validator.SPECIAL_USE_DOMAIN_NAMES))
PLAIN_EMAIL = re.compile(
    rf"(?=[^@]{{1,64}}@){_ATEXT}+(?:\.{_ATEXT}+)*"
    rf"@(?![^@]*--)(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{{0,61}}[a-zA-Z0-9])?\.)+(?!(?i:{_SPECIAL_USE})$)[a-zA-Z]{{2,63}}"
)
INT_RE = re.compile(r"^[+-]?\d{1,18}$")
TRUE = frozenset({"true", "yes", "y", "t", "1", "on"})
FALSE = frozenset({"false", "no", "n", "f", "0", "off"})
# Inference is stricter than coercion: a column of 0/1 is numeric, not boolean.
INFER_BOOLEAN = frozenset({"true", "false", "yes", "no"})


def normalize_header(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().strip("\ufeff").lower()).strip()


def attribute_name(header: str) -> str:
    """`Favourite Colour` -> `favourite_colour`: one spelling per field, whatever the file's casing."""
    return re.sub(r"[^\w.]+", "_", header.strip().lower()).strip("_")[:100]


def split_declared_type(header: str) -> tuple[str, str | None]:
    name, sep, declared = header.rpartition(":")
    if sep and declared.strip().lower() in TYPES:
        return name, declared.strip().lower()
    return header, None


def valid_email(value: str) -> bool:
    """Syntax only, no DNS: exactly what `email-validator` accepts, the common shape answered without calling it."""
    if len(value) > 254:
        return False
    if PLAIN_EMAIL.fullmatch(value) is not None:
        return True
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return False
    return True


# --- coercion: text (from a file) or any JSON value (API, listmonk's attributes column) -> JSON text ----------


class CoercionError(ValueError):
    pass


def _numeric(value: Any) -> str:
    if isinstance(value, bool):
        raise CoercionError("not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        number = value
    else:
        text = str(value).strip()
        if INT_RE.match(text):
            return str(int(text))
        try:
            number = float(text)
        except ValueError:
            raise CoercionError("not a number") from None
    if not math.isfinite(number):
        raise CoercionError("not a finite number")
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip().lower()
    if text in TRUE:
        return "true"
    if text in FALSE:
        return "false"
    raise CoercionError("not a boolean (true/false, yes/no, 1/0)")


def _date(value: Any) -> str:
    try:
        return json_string(dt.date.fromisoformat(str(value).strip()).isoformat())
    except ValueError:
        raise CoercionError("not a date (YYYY-MM-DD)") from None


def parse_timestamp(value: Any) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise CoercionError("not a timestamp (ISO 8601, e.g. 2024-05-01T09:30:00Z)") from None
    return timezone.make_aware(parsed, dt.UTC) if timezone.is_naive(parsed) else parsed


def _timestamp(value: Any) -> str:
    return json_string(parse_timestamp(value).isoformat())


def _array(value: Any) -> str:
    if isinstance(value, list):
        return json.dumps(value)
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise CoercionError("not a JSON array") from None
        if not isinstance(parsed, list):
            raise CoercionError("not a JSON array")
        return json.dumps(parsed)
    return json.dumps([part.strip() for part in text.split(",") if part.strip()])


def _string(value: Any) -> str:
    if isinstance(value, dict | list):
        return json_string(json.dumps(value))
    if isinstance(value, bool):
        return json_string("true" if value else "false")
    return json_string(str(value))


COERCE: dict[str, Callable[[Any], str]] = {
    FieldType.NUMERIC: _numeric,
    FieldType.BOOLEAN: _boolean,
    FieldType.DATE: _date,
    FieldType.TIMESTAMP: _timestamp,
    FieldType.ARRAY: _array,
    FieldType.STRING: _string,
}


def _fits(coerce: Callable[[Any], str], values: list[str]) -> bool:
    try:
        for value in values:
            coerce(value)
    except CoercionError:
        return False
    return True


def infer_type(values: Iterable[str]) -> str:
    sample = [v.strip() for v in values if v.strip()]
    if not sample:
        return FieldType.STRING
    if all(v.lower() in INFER_BOOLEAN for v in sample):
        return FieldType.BOOLEAN
    if _fits(_numeric, sample):
        return FieldType.NUMERIC
    if all(len(v) == 10 for v in sample) and _fits(_date, sample):
        return FieldType.DATE
    if all(len(v) > 10 and v[4] == "-" for v in sample) and _fits(_timestamp, sample):
        return FieldType.TIMESTAMP
    if all(v.startswith("[") for v in sample) and _fits(_array, sample):
        return FieldType.ARRAY
    return FieldType.STRING


def json_value_type(value: Any) -> str:
    """The type of a value that arrives as JSON (the API, listmonk's attributes column)."""
    if isinstance(value, bool):
        return FieldType.BOOLEAN
    if isinstance(value, int | float):
        return FieldType.NUMERIC
    if isinstance(value, list):
        return FieldType.ARRAY
    return FieldType.STRING


def flatten(obj: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Nested objects become dotted names (`{"a": {"b": 1}}` -> `a.b`); there is no object attribute type."""
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, f"{name}.")
        else:
            yield name, value


def fast_coercer(field_type: str) -> Callable[[str], str]:
    """COERCE for text from a file, with shortcuts for the values most files are made of (plain integers,
    ISO dates, plain strings); anything else takes the full path, so the results are the same."""
    slow = COERCE[field_type]
    if field_type == FieldType.NUMERIC:

        def numeric(value: str) -> str:
            if value.isascii() and value.isdigit() and len(value) < 16 and (value[0] != "0" or len(value) == 1):
                return value
            return slow(value)

        return numeric
    if field_type == FieldType.DATE:
        from_iso = dt.date.fromisoformat

        def date(value: str) -> str:
            if len(value) == 10 and value[4] == "-" and value[7] == "-" and value.isascii():
                try:
                    from_iso(value)
                except ValueError:
                    raise CoercionError("not a date (YYYY-MM-DD)") from None
                return f'"{value}"'
            return slow(value)

        return date
    if field_type == FieldType.BOOLEAN:
        table = {**dict.fromkeys(TRUE, "true"), **dict.fromkeys(FALSE, "false")}

        def boolean(value: str) -> str:
            found = table.get(value.lower())
            return found if found is not None else slow(value)

        return boolean
    if field_type == FieldType.STRING:
        return json_string  # type: ignore[no-any-return]
    return slow
