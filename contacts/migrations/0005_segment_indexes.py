"""Indexes the rules segments read (segments/rules.py compiles to exactly these shapes; docs/benchmarks/segments.md).

- Numbers and short strings: (field_name, field_value, contact_id), partial on the JSON type, so `score > 70` or
  `city IN ('Oslo', 'Bergen')` is an index-only range scan instead of a pass over every row of that attribute.
  Strings are partial on short values of string attributes (dates are JSON strings too, but rules read them as
  dates), so no entry can pass btree's ~2.7 KB limit; the compiler adds the same guards.
- Funnel events: (to_stage, created_at) INCLUDE (contact_id) replaces (to_stage, created_at), so "moved to X in the
  last N days" never reads the table.

They cost the attribute import time (docs/benchmarks/import_contacts.md measures how much). PostgreSQL only for the
attribute indexes (SQLite has no jsonb_typeof; the embedded mode's data is small).
"""

from django.db import migrations, models

ATTRIBUTE_INDEXES = {
    "contact_attribute_number": "CREATE INDEX IF NOT EXISTS contact_attribute_number ON contacts_contactattribute "
    "(field_name, field_value, contact_id) WHERE jsonb_typeof(field_value) = 'number'",
    "contact_attribute_string": "CREATE INDEX IF NOT EXISTS contact_attribute_string ON contacts_contactattribute "
    "(field_name, field_value, contact_id) WHERE field_type = 'string' AND jsonb_typeof(field_value) = 'string' "
    "AND octet_length(field_value::text) < 1000",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for ddl in ATTRIBUTE_INDEXES.values():
            schema_editor.execute(ddl)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in ATTRIBUTE_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0004_email_prefix_id_index")]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RemoveIndex(model_name="funnelevent", name="funnel_stage_created"),
        migrations.AddIndex(
            model_name="funnelevent",
            index=models.Index(
                fields=["to_stage", "created_at"], include=["contact"], name="funnel_stage_created_contact"
            ),
        ),
    ]
