"""The embedded default runs on SQLite: the same import service must work there without COPY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

SCRIPT = """
import io, json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from contacts import services
from contacts.models import Contact, ContactAttribute, FunnelEvent
data = b"email,name,age,lms_lead_id\\nAnn@Example.com,Ann Lee,41,L1\\nann@example.com,Ann Lee,42,L1\\nbroken,X,1,\\n"
runs = []
for _ in range(2):
    job = services.import_job_create(file=io.BytesIO(data), original_name="a.csv", start=False)
    job = services.import_job_run(job_id=job.pk)
    runs.append([job.status, job.created, job.updated, job.unchanged, job.skipped, job.errors])
events = services.import_job_create(
    file=io.BytesIO(b"email,to_stage,created_at,amount\\nann@example.com,lead,2024-01-01T00:00:00Z,12.50\\n"),
    original_name="e.csv", kind="events", start=False)
events = services.import_job_run(job_id=events.pk)
print(json.dumps({
    "runs": runs,
    "age": ContactAttribute.objects.get(field_name="age").field_value,
    "name": Contact.objects.values_list("first_name", "last_name").get(),
    "events": [events.status, FunnelEvent.objects.count()],
    "amount": str(FunnelEvent.objects.get().amount),
}))
"""


def test_import_on_sqlite_without_copy(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "HERALD_MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["runs"] == [["done", 1, 0, 0, 1, 1], ["done", 0, 0, 1, 1, 1]]
    assert result["age"] == 42
    assert result["name"] == ["Ann", "Lee"]
    assert result["events"] == ["done", 1]
    assert result["amount"] == "12.50"
