"""Email prefix search as an index-only scan: (email varchar_pattern_ops, id) replaces the plain pattern index
Django creates for the unique email column. A prefix matching thousands of contacts then sorts ids from the index
and fetches only the page's rows from the table, instead of every match. Same number of indexes to maintain on
import. PostgreSQL only (SQLite has neither)."""

from django.db import migrations

NEW = "contact_email_prefix_id"


def _like_indexes(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'contacts_contact' "
            "AND indexdef LIKE '%%(email varchar_pattern_ops)'"
        )
        return [row[0] for row in cursor.fetchall()]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in _like_indexes(schema_editor):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {NEW} ON contacts_contact (email varchar_pattern_ops, id)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NEW}")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS contacts_contact_email_like ON contacts_contact (email varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_attribute_no_db_fk")]

    operations = [migrations.RunPython(forwards, backwards)]
