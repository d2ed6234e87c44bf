"""Who changed what: the models django-auditlog records, registered by app label so accounts (the bottom of the
import graph) imports no higher app. Called from AccountsConfig.ready(), when every model is loaded.

Changes made through `.update()` (the send engine's counters and state moves) send no signal and are not
recorded: the log is for people's edits, and the engine's own rows (Delivery, Send) are their own record."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.apps import apps

AUDITED: dict[str, dict[str, Any]] = {
    "campaigns.Campaign": {},
    "campaigns.Scenario": {},
    "segments.Segment": {},
    "templates_app.MessageTemplate": {},
    "automations.Automation": {},
    # The hash is no secret worth logging, and last_used_at would bury the revocations under "used" entries.
    "accounts.ApiKey": {"exclude_fields": ["hashed_secret", "last_used_at"]},
    # Roles are group memberships. Never the password hash; last_login changes at every sign-in.
    "auth.User": {
        "include_fields": ["username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser"],
        "m2m_fields": {"groups"},
    },
}


# Models no signal logs, whose entries services write themselves: a GDPR erasure (privacy/services.py) is one
# entry on the erased Contact. Without them here the audit log page would not show the erasures it promises.
LOGGED_BY_SERVICES = ("contacts.Contact",)


def register_audited_models() -> None:
    for label, options in AUDITED.items():
        model = apps.get_model(label)
        if auditlog.contains(model):
            continue
        # Only the row's own columns: on a create or delete auditlog would otherwise read every reverse relation
        # too, and reading a missing reverse one-to-one (Scenario.emailer) caches "none" on the caller's instance.
        own = [f.name for f in model._meta.concrete_fields]
        options = {"include_fields": own, **options}
        auditlog.register(model, **options)


def audited_content_type_ids() -> list[int]:
    from django.contrib.contenttypes.models import ContentType

    models = [apps.get_model(label) for label in (*AUDITED, *LOGGED_BY_SERVICES)]
    return [ct.pk for ct in ContentType.objects.get_for_models(*models).values()]


def change_rows(entry: LogEntry) -> list[tuple[str, str]]:
    """One (field, what happened) line per changed field; a role change reads "add Admin" rather than raw JSON."""
    rows: list[tuple[str, str]] = []
    for field, value in (entry.changes_dict or {}).items():
        if isinstance(value, dict) and value.get("type") == "m2m":
            rows.append((field, f"{value.get('operation', '')} {', '.join(map(str, value.get('objects', [])))}"))
        elif isinstance(value, list | tuple) and len(value) == 2:
            rows.append((field, f"{value[0]} → {value[1]}"))
        else:
            rows.append((field, str(value)))
    extra = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    if extra.get("gdpr") == "erasure":
        counts = extra.get("counts") or {}
        done = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in counts.items() if n)
        rows.append(
            ("GDPR erasure", f"{done or 'nothing held'} (address hash {str(extra.get('email_hash', ''))[:12]})")
        )
    return rows
