"""Typed value columns and the indexes rules segments read (segments/rules.py compiles to exactly these shapes;
docs/benchmarks/segments.md).

- `value_num` (numbers) and `value_text` (short values of string attributes) are generated from `field_value` by
  PostgreSQL, so every writer (the import's set-based merge, the API, the admin) fills them without knowing, and
  the planner has ordinary statistics for them (jsonb comparisons get fixed guesses). Django's model does not
  declare them: nothing writes them, only segments/rules.py reads them.
- (field_name, value, contact_id), partial on the value being there: `score > 70` or `city IN ('Oslo', 'Bergen')`
  is an index-only range scan instead of a pass over every row of that attribute. Typed keys, not jsonb: a jsonb
  comparison costs ~10 us per index entry on insert (bench/import_contacts.py writes 2.8M attribute rows), a
  numeric or "C"-collated text comparison a fraction of that. Strings are capped at 1000 bytes so no entry can pass
  btree's ~2.7 KB limit; the compiler compares longer strings through `field_value`.
- Funnel events: (to_stage, created_at) INCLUDE (contact_id) replaces (to_stage, created_at), so "moved to X in the
  last N days" never reads the table.

PostgreSQL only for the attribute columns (SQLite, the embedded mode, reads values with its JSON1 functions).
Adding the columns rewrites the attribute table once.
"""

from django.db import migrations, models

COLUMNS = (
    "ALTER TABLE contacts_contactattribute "
    "ADD COLUMN IF NOT EXISTS value_num numeric GENERATED ALWAYS AS "
    "(CASE WHEN jsonb_typeof(field_value) = 'number' THEN (field_value)::numeric END) STORED, "
    'ADD COLUMN IF NOT EXISTS value_text text COLLATE "C" GENERATED ALWAYS AS '
    "(CASE WHEN field_type = 'string' AND jsonb_typeof(field_value) = 'string' "
    "AND octet_length(field_value #>> '{}') < 1000 THEN field_value #>> '{}' END) STORED"
)
INDEXES = {
    "contact_attribute_number": "CREATE INDEX IF NOT EXISTS contact_attribute_number ON contacts_contactattribute "
    "(field_name, value_num, contact_id) WHERE value_num IS NOT NULL",
    "contact_attribute_string": "CREATE INDEX IF NOT EXISTS contact_attribute_string ON contacts_contactattribute "
    "(field_name, value_text, contact_id) WHERE value_text IS NOT NULL",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(COLUMNS)
        for ddl in INDEXES.values():
            schema_editor.execute(ddl)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
        schema_editor.execute(
            "ALTER TABLE contacts_contactattribute DROP COLUMN IF EXISTS value_num, DROP COLUMN IF EXISTS value_text"
        )


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
