from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from automations import services
from automations.models import Automation
from segments import services as segment_services
from segments.models import Segment
from templates_app import services as template_services
from templates_app.models import MessageTemplate

DEMO_NAME = "Herald demo automation"
DEMO_CRON = "*/5 * * * *"
DEMO_SEGMENT = "Demo contacts"
# seed_demo's contacts are `<name>.demo<n>@example.com`.
DEMO_RULES = {"op": "and", "conditions": [{"field": "contact.email", "operator": "contains", "value": ".demo"}]}
DEMO_TEMPLATE = "Demo automation email"
DEMO_BODY = (
    "<p>Hi {{ first_name|default:'there' }},</p>"
    "<p>this email was sent by Herald's demo automation, which fires every five minutes by itself "
    "(django-celery-beat runs it; each firing is one run with its own counts on the automation's page).</p>"
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


class Command(BaseCommand):
    help = (
        "Demo automation for `make run` (idempotent, after seed_demo): a rules segment of the demo contacts, an "
        "email template and an automation firing every five minutes into the Outbox."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Say what would be created; create nothing.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        existing = Automation.objects.filter(name=DEMO_NAME).order_by("id").first()
        if existing is not None:
            self.stdout.write(f"  Automation “{existing.name}” (#{existing.pk}) exists: {existing.cron}")
            return
        if options["dry_run"]:
            self.stdout.write(f"  Would create the automation “{DEMO_NAME}” ({DEMO_CRON}).")
            return
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            raise CommandError("No `admin` user: run `manage.py seed_demo` first (`make demo` runs both).")
        segment = Segment.objects.filter(name=DEMO_SEGMENT).order_by("id").first() or segment_services.segment_create(
            user=admin, name=DEMO_SEGMENT, type=Segment.Type.RULES, rules=DEMO_RULES
        )
        template = MessageTemplate.objects.filter(name=DEMO_TEMPLATE).order_by("id").first()
        if template is None:
            template = template_services.template_create(
                user=admin,
                name=DEMO_TEMPLATE,
                subject="Herald demo automation",
                message=DEMO_BODY,
                templating_type=MessageTemplate.TemplatingType.HTML,
            )
        automation = services.automation_create(
            name=DEMO_NAME,
            description="Created by `manage.py seed_demo_automations`: fires every five minutes into the Outbox.",
            segment=segment,
            template=template,
            cron=DEMO_CRON,
            timezone=settings.TIME_ZONE,
            user=admin,
        )
        self.stdout.write(self.style.SUCCESS(f"  Automation “{automation.name}” (#{automation.pk}): every 5 minutes"))
