"""The mobile number's blind index keeps the first 64 bits of its keyed BLAKE2b (contacts/tokens.py): 16 hex
characters where it kept 32. The stored ones are cut to match, so a re-import still sees the same numbers as
unchanged; nothing needs a key."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0010_contact_consent_origin"),
    ]

    operations = [
        migrations.RunSQL(
            "UPDATE contacts_contact SET mobile_hash = substr(mobile_hash, 1, 16) WHERE length(mobile_hash) > 16",
            # Cut hashes cannot be made whole again; the previous code compares them as changed numbers and
            # rewrites them at the next import.
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
