"""Turn a header into a column plan, and each record into a staged row or a reason it was rejected.

Contacts: a staged row is `(line, email, first_name, last_name, mobile, lms_lead_id, status, attrs)` where a
`None` field means "not given: keep what the contact has" and `attrs` is a JSON object text (or None).
Events: `(line, email, contact_id, funnel_type, from_stage, to_stage, created_at, amount)`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, cast

from contacts.importing import columns as c
from contacts.importing.reader import FileUnreadable
from contacts.models import FunnelEvent

# Columns that exports carry about the exporting system itself, not about the person (listmonk's uuid and
# timestamps): importing them as attributes would only add noise.
IGNORED_HEADERS = frozenset({"uuid", "created at", "updated at", "id"})
MAX_LENGTHS = {"first_name": 150, "last_name": 150, "mobile": 40, "lms_lead_id": 100}
INFER_SAMPLE = 1000
MAX_ID = 2**63 - 1  # PostgreSQL bigint: a larger id cannot name a contact, and would fail the staging COPY

ContactRow = tuple[int, str, str | None, str | None, str | None, str | None, str | None, str | None]


class EventRow(NamedTuple):
    """One validated funnel event, in the staging table's column order (written by COPY as a plain tuple)."""

    line: int
    email: str | None
    contact_id: int | None
    funnel_type: str
    from_stage: str
    to_stage: str
    created_at: dt.datetime | None
    amount: decimal.Decimal | None = None

    def at(self, now: dt.datetime) -> EventRow:
        """The event with `now` as its time when it carries none (an event without a timestamp happened now)."""
        return self if self.created_at is not None else self._replace(created_at=now)


class TypeLookup(Protocol):
    """The stored type of an attribute name, if any (a dict, or a lookup that queries on first use)."""

    def get(self, name: str, default: None = None, /) -> str | None: ...


class RowError(ValueError):
    """One record cannot be imported; the message is the reason shown in the error report."""


@dataclass
class Attribute:
    name: str
    type: str | None  # None until declared, found in the database or inferred
    index: int
    declared: bool = False

    def coerce(self, value: Any) -> str:
        assert self.type is not None
        return c.COERCE[self.type](value)


@dataclass
class ContactPlan:
    """Which column feeds which field; built once per file from its header."""

    width: int
    fields: dict[str, int] = field(default_factory=dict)
    attributes: list[Attribute] = field(default_factory=list)
    # Types of attributes met inside listmonk's JSON `attributes` column, fixed by their first value.
    json_types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_header(cls, header: Sequence[str]) -> ContactPlan:
        plan = cls(width=len(header))
        seen_attributes: set[str] = set()
        for index, raw in enumerate(header):
            raw_name, declared = c.split_declared_type(raw)
            normalized = c.normalize_header(raw_name)
            if not normalized:
                continue
            target = c.CONTACT_ALIASES.get(normalized)
            if target and declared is None:
                plan.fields.setdefault(target, index)
                continue
            if normalized in IGNORED_HEADERS:
                continue
            name = c.attribute_name(raw_name)
            if name and name not in seen_attributes:
                seen_attributes.add(name)
                plan.attributes.append(Attribute(name=name, type=declared, index=index, declared=declared is not None))
        if "email" not in plan.fields:
            found = ", ".join(h for h in header if h.strip()) or "none"
            raise FileUnreadable(
                f"The file has no email column (looked for Email, Email Address, E-mail; the header has: {found})."
            )
        return plan

    def settle_types(self, known: dict[str, str], sample: Iterable[Sequence[str]]) -> None:
        """Fix each attribute's type: declared in the header, else as already stored, else inferred."""
        rows = list(sample)
        for attribute in self.attributes:
            if attribute.type is None:
                attribute.type = known.get(attribute.name) or c.infer_type(
                    row[attribute.index] for row in rows if attribute.index < len(row)
                )

    def types(self) -> dict[str, str]:
        found = {a.name: a.type for a in self.attributes if a.type}
        return {**self.json_types, **found}

    def row(self, line: int, values: Sequence[str], known: TypeLookup) -> ContactRow:
        return self.compile(known)(line, list(values))

    def compile(self, known: TypeLookup) -> Callable[[int, list[str]], ContactRow]:
        """The per-record validator, generated for this header: it runs a million times per file, so it holds
        only the statements the file's columns need (no lookups by name, no absent columns, no padding)."""
        width, fields = self.width, self.fields
        env: dict[str, Any] = {
            "RowError": RowError,
            "CoercionError": c.CoercionError,
            "plain_email": c.PLAIN_EMAIL.fullmatch,
            "valid_email": c.valid_email,
            "statuses": c.STATUS_VALUES,
            "normalize": c.normalize_header,
            "json_attributes": self._json_attributes,
            "known": known,
            "taken": {a.name for a in self.attributes},
            "width": width,
        }

        def field(name: str) -> str:
            return f"values[{fields[name]}].strip()" if name in fields else '""'

        code = [
            "def row(line, values):",
            "    if len(values) != width:",
            "        values = fit(values)",
            f"    email = {field('email')}.lower()",
            "    if not email:",
            "        raise RowError('missing email')",
            "    if len(email) > 254 or (plain_email(email) is None and not valid_email(email)):",
            "        raise RowError(f'invalid email {email!r}')",
            f"    first = {field('first_name')}",
            f"    last = {field('last_name')}",
        ]
        if "name" in fields:
            code += [
                "    if not first and not last:",
                f"        first, _, last = {field('name')}.partition(' ')",
                "        last = last.strip()",
            ]
        code += [f"    mobile = {field('mobile')}", f"    lms = {field('lms_lead_id')}"]
        for name, variable in (
            ("first_name", "first"),
            ("last_name", "last"),
            ("mobile", "mobile"),
            ("lms_lead_id", "lms"),
        ):
            if name in fields or (name in ("first_name", "last_name") and "name" in fields):
                limit = MAX_LENGTHS[name]
                code += [
                    f"    if len({variable}) > {limit}:",
                    f"        raise RowError('{name} is longer than {limit} characters')",
                ]
        code.append("    status = None")
        if "status" in fields:
            code += [
                f"    raw_status = {field('status')}",
                "    if raw_status:",
                "        status = statuses.get(normalize(raw_status))",
                "        if status is None:",
                "            raise RowError(f'unknown status {raw_status!r}')",
            ]
        code.append("    parts = []")
        for i, attribute in enumerate(self.attributes):
            env[f"coerce{i}"] = c.fast_coercer(attribute.type or c.FieldType.STRING)
            env[f"prefix{i}"] = f"{c.json_string(attribute.name)}: "
            env[f"name{i}"] = attribute.name
            code += [
                f"    value = values[{attribute.index}]",
                "    if value:",
                "        value = value.strip()",
                "        if value:",
                "            try:",
                f"                parts.append(prefix{i} + coerce{i}(value))",
                "            except CoercionError as exc:",
                f"                raise RowError(f'column {{name{i}!r}}: {{value!r}} is {{exc}}') from None",
            ]
        if "attributes" in fields:
            code += [
                f"    raw_json = {field('attributes')}",
                "    if raw_json:",
                "        parts.extend(json_attributes(raw_json, known, taken))",
            ]
        code.append(
            "    return (line, email, first or None, last or None, mobile or None, lms or None, status, "
            "'{' + ', '.join(parts) + '}' if parts else None)"
        )

        def fit(values: list[str]) -> list[str]:
            # A fitted copy, never the caller's list: the error report shows the record as it was read.
            if len(values) > width:
                if any(v.strip() for v in values[width:]):
                    raise RowError(f"{len(values)} fields but the header has {width}")
                return values[:width]
            return values + [""] * (width - len(values))

        env["fit"] = fit
        # Only column positions and constants are interpolated; header names and file values stay in `env`.
        exec("\n".join(code), env)
        return cast(Callable[[int, list[str]], ContactRow], env["row"])

    def _json_attributes(self, text: str, known: TypeLookup, taken: set[str]) -> list[str]:
        try:
            obj = json.loads(text)
        except ValueError:
            raise RowError("the attributes column is not valid JSON") from None
        if not isinstance(obj, dict):
            raise RowError("the attributes column is not a JSON object")
        return encode_attributes(obj, known=known, assigned=self.json_types, taken=taken)


def encode_attributes(
    obj: dict[str, Any], *, known: TypeLookup, assigned: dict[str, str], taken: set[str] | None = None
) -> list[str]:
    """`"name": <json>` pairs for a JSON object of attributes (API, listmonk). A name keeps the type it has in
    the database, else the type of its first value; a later value that does not fit is a row error."""
    parts: list[str] = []
    for raw_name, value in c.flatten(obj):
        name = c.attribute_name(raw_name)
        if not name or (taken and name in taken) or value is None or value == "":
            continue
        field_type = assigned.get(name) or known.get(name) or c.json_value_type(value)
        assigned.setdefault(name, field_type)
        try:
            parts.append(f"{c.json_string(name)}: {c.COERCE[field_type](value)}")
        except c.CoercionError as exc:
            raise RowError(f"attribute {name!r}: {value!r} is {exc}") from None
    return parts


@dataclass
class EventPlan:
    width: int
    fields: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_header(cls, header: Sequence[str]) -> EventPlan:
        plan = cls(width=len(header))
        for index, raw in enumerate(header):
            target = c.EVENT_ALIASES.get(c.normalize_header(raw))
            if target:
                plan.fields.setdefault(target, index)
        found = ", ".join(h for h in header if h.strip()) or "none"
        if "email" not in plan.fields and "contact_id" not in plan.fields:
            raise FileUnreadable(f"The file has no email or contact id column (the header has: {found}).")
        if "to_stage" not in plan.fields:
            raise FileUnreadable(f"The file has no to_stage column (the header has: {found}).")
        return plan

    def row(self, line: int, values: Sequence[str]) -> EventRow:
        size = len(values)

        def get(name: str) -> str:
            index = self.fields.get(name)
            return values[index].strip() if index is not None and index < size else ""

        return event_row(
            line,
            email=get("email"),
            contact_id=get("contact_id"),
            funnel_type=get("funnel_type") or FunnelEvent.FunnelType.SALES,
            from_stage=get("from_stage"),
            to_stage=get("to_stage"),
            created_at=get("created_at"),
            amount=get("amount"),
        )


# contacts.FunnelEvent.amount: numeric(14, 2).
AMOUNT_MAX = decimal.Decimal("999999999999.99")


def event_amount(value: Any) -> decimal.Decimal | None:
    """An event's amount: empty is none; otherwise a number >= 0 with at most 2 decimals (cents are not rounded
    silently: a value the column cannot hold is refused, as is a negative one: a refund is not a conversion)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
        raise RowError(f"amount {value!r} is not a number")
    try:
        amount = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise RowError(f"amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise RowError(f"amount {value!r} is not a number")
    if amount < 0:
        raise RowError(f"amount {value!r} is negative")
    if amount != amount.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_DOWN):
        raise RowError(f"amount {value!r} has more than 2 decimals")
    if amount > AMOUNT_MAX:
        raise RowError(f"amount {value!r} is too large")
    return amount.quantize(decimal.Decimal("0.01"))


def event_row(
    line: int,
    *,
    email: Any,
    contact_id: Any,
    funnel_type: Any,
    from_stage: Any,
    to_stage: Any,
    created_at: Any,
    amount: Any = None,
) -> EventRow:
    """Validate one funnel event from a file or the API."""
    email_text = str(email or "").strip().lower() or None
    cid: int | None = None
    if contact_id not in (None, ""):
        try:
            cid = int(str(contact_id).strip())
        except ValueError:
            raise RowError(f"contact id {contact_id!r} is not a number") from None
        if not 0 < cid <= MAX_ID:
            raise RowError(f"contact id {contact_id!r} is out of range")
    if email_text is None and cid is None:
        raise RowError("missing email or contact id")
    if email_text is not None and not c.valid_email(email_text):
        raise RowError(f"invalid email {email_text!r}")
    kind = c.FUNNEL_TYPES.get(c.normalize_header(str(funnel_type or "")))
    if kind is None:
        raise RowError(f"unknown funnel type {funnel_type!r} (sales or service-delivery)")
    to_text, from_text = str(to_stage or "").strip(), str(from_stage or "").strip()
    if not to_text:
        raise RowError("missing to_stage")
    if len(to_text) > 100 or len(from_text) > 100:
        raise RowError("a stage name is longer than 100 characters")
    when: dt.datetime | None = None
    if isinstance(created_at, dt.datetime):
        when = created_at
    elif created_at not in (None, ""):
        try:
            when = c.parse_timestamp(created_at)
        except c.CoercionError as exc:
            raise RowError(f"created_at {created_at!r} is {exc}") from None
    return EventRow(line, email_text, cid, kind, from_text, to_text, when, event_amount(amount))


def contact_row_from_item(line: int, item: Any, *, known: TypeLookup, assigned: dict[str, str]) -> ContactRow:
    """Validate one contact of the API's bulk upsert: the same rules as a file row."""
    if not isinstance(item, dict):
        raise RowError("not an object")

    def text(name: str) -> str:
        value = item.get(name)
        if value is None:
            return ""
        if not isinstance(value, str | int):
            raise RowError(f"{name} must be a string")
        return str(value).strip()

    email = text("email").lower()
    if not email:
        raise RowError("missing email")
    if not c.valid_email(email):
        raise RowError(f"invalid email {email!r}")
    first, last = text("first_name"), text("last_name")
    if not first and not last and (full := text("name")):
        first, _, last = full.partition(" ")
        last = last.strip()
    found = {"first_name": first, "last_name": last, "mobile": text("mobile"), "lms_lead_id": text("lms_lead_id")}
    for name, limit in MAX_LENGTHS.items():
        if len(found[name]) > limit:
            raise RowError(f"{name} is longer than {limit} characters")
    status: str | None = None
    if raw_status := text("status"):
        status = c.STATUS_VALUES.get(c.normalize_header(raw_status))
        if status is None:
            raise RowError(f"unknown status {raw_status!r}")
    attributes = item.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise RowError("attributes must be an object of name -> value")
    pairs = encode_attributes(attributes, known=known, assigned=assigned)
    return (
        line,
        email,
        found["first_name"] or None,
        found["last_name"] or None,
        found["mobile"] or None,
        found["lms_lead_id"] or None,
        status,
        "{" + ", ".join(pairs) + "}" if pairs else None,
    )
