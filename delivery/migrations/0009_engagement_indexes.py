"""Partial indexes for the engagement conditions of rules segments (delivery/segment_conditions.py)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("delivery", "0008_tracking")]

    operations = [
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(opened_at__isnull=False),
                fields=["contact", "opened_at"],
                name="delivery_contact_opened",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(clicked_at__isnull=False),
                fields=["contact", "clicked_at"],
                name="delivery_contact_clicked",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(status="bounced"), fields=["contact", "sent_at"], name="delivery_contact_bounced"
            ),
        ),
    ]
