"""The two-part snapshot: the rest of a Send's audience waits on the Send while its first page sends."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("delivery", "0009_engagement_indexes")]

    operations = [
        migrations.AddField(
            model_name="send",
            name="snapshot_rest_sql",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="send",
            name="snapshot_after",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
