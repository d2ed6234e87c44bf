"""The PostgreSQL role SQL segments run as (segments/sql.py, ARCHITECTURE §7): NOLOGIN, no attributes, SELECT on the
contact-side tables and nothing else; granted to Herald's own database user so it can `SET LOCAL ROLE` to it.

Roles belong to the whole cluster, so every step is idempotent and tolerates a concurrent migration of another
database doing the same. When Herald's user may not create roles (neither superuser nor CREATEROLE) this step is
skipped and SQL segments stay disabled, with a message naming the statements a DBA must run (README).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

ROLE = "herald_segment_reader"
MODELS = [
    ("contacts", "Contact"),
    ("contacts", "ContactAttribute"),
    ("contacts", "FunnelEvent"),
    ("contacts", "Batch"),
    ("contacts", "BatchMember"),
    ("segments", "SegmentMember"),
]

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database's migration created it at the same moment
END $$
"""

GRANT_TO_APP_USER = f"""
DO $$
BEGIN
    IF NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
        EXECUTE format('GRANT {ROLE} TO %I', current_user);
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN
    NULL;  -- granted concurrently, or the role was created by someone else: the runtime check reports it
END $$
"""


def create_reader_role(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
        if not (row and row[0]):
            return
        cursor.execute(CREATE_ROLE)
        quote = connection.ops.quote_name
        tables = ", ".join(quote(apps.get_model(app, name)._meta.db_table) for app, name in MODELS)
        cursor.execute("SELECT quote_ident(current_schema())")
        (schema,) = cursor.fetchone()
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {ROLE}")
        cursor.execute(f"GRANT SELECT ON {tables} TO {ROLE}")
        cursor.execute(GRANT_TO_APP_USER)


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0001_initial"),
        ("contacts", "0006_attribute_value_buckets"),
    ]

    # The role is shared by every database of the cluster: unapplying leaves it (and its grants in this database,
    # which go with the tables).
    operations = [migrations.RunPython(create_reader_role, migrations.RunPython.noop, elidable=False)]
