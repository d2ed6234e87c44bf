"""Every attribute row in exactly one of three partial indexes keyed (field_name, ...), instead of all of them
also in a plain (field_name) index.

On PostgreSQL migration 0005 indexed numbers (`value_num IS NOT NULL`) and short strings (`value_text IS NOT NULL`);
`contact_attribute_other` takes the rest (booleans, arrays, dates, timestamps, long strings, JSON null), so the three
together cover every row by name and `contact_attribute_name` is redundant. Dropping it takes one index entry off
most attribute rows: the 1M-row import's 2.8M attribute rows cost 25.5 CPU-seconds of PostgreSQL instead of 31.2
(docs/benchmarks/import_contacts.md). The rules compiler, the attribute catalog and the import's type lookup name
the bucket they read (segments/rules.py, segments/selectors.py, contacts/importing/rows.py).

SQLite (the embedded mode) has no value columns and keeps its plain field_name index; Django's state no longer
lists it, so a future table rebuild on SQLite would drop it (embedded databases are small).
"""

from django.db import migrations

OTHER = (
    "CREATE INDEX IF NOT EXISTS contact_attribute_other ON contacts_contactattribute (field_name, contact_id) "
    "WHERE value_num IS NULL AND value_text IS NULL"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OTHER)
        schema_editor.execute("DROP INDEX IF EXISTS contact_attribute_name")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS contact_attribute_name ON contacts_contactattribute (field_name)"
        )
        schema_editor.execute("DROP INDEX IF EXISTS contact_attribute_other")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_segment_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="contactattribute", name="contact_attribute_name")],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
