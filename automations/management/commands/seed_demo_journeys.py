from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from automations import journeys
from automations.models import Journey
from templates_app import services as template_services
from templates_app.models import MessageTemplate

WELCOME = "Welcome"
# Seed 001: a welcome message now, one 2 days later, one 5 days later.
EMAILS = [
    ("Welcome 1: hello", "Welcome to Herald", "thanks for signing up. This is the first email of the Welcome journey."),
    ("Welcome 2: day 2", "Getting started", "two days in: here is how to get the most out of it."),
    ("Welcome 3: day 5", "Anything we can help with?", "five days in: reply to this email if anything is unclear."),
]
BODY = (
    "<p>Hi {{{{ first_name|default:'there' }}}},</p><p>{text}</p>"
    '<p><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p>'
)


class Command(BaseCommand):
    help = (
        "The default Welcome journey (seed 001 item 8) for `make demo` (idempotent, after seed_demo): welcome now, "
        "+2 days, +5 days, triggered when a contact is created. Created as a draft: nothing is sent until someone "
        "activates it on the journey's page."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Say what would be created; create nothing.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        existing = Journey.objects.filter(name=WELCOME).order_by("id").first()
        if existing is not None:
            self.stdout.write(f"  Journey “{existing.name}” (#{existing.pk}) exists ({existing.status}).")
            return
        if options["dry_run"]:
            self.stdout.write(f"  Would create the journey “{WELCOME}” (draft) and its {len(EMAILS)} templates.")
            return
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            raise CommandError("No `admin` user: run `manage.py seed_demo` first (`make demo` runs both).")
        templates = []
        for name, subject, text in EMAILS:
            template = MessageTemplate.objects.filter(name=name).order_by("id").first()
            if template is None:
                template = template_services.template_create(
                    user=admin,
                    name=name,
                    subject=subject,
                    message=BODY.format(text=text),
                    templating_type=MessageTemplate.TemplatingType.HTML,
                )
            templates.append(template)
        journey = journeys.journey_create(
            name=WELCOME,
            description="Created by `manage.py seed_demo_journeys`. Activate it to greet every new contact.",
            trigger={"type": "contact_created"},
            timezone=settings.TIME_ZONE,
            steps=[
                {"key": "welcome", "type": "send", "template": templates[0].pk},
                {"key": "wait_2d", "type": "wait", "minutes": 2 * 1440},
                {"key": "day_2", "type": "send", "template": templates[1].pk},
                {"key": "wait_3d", "type": "wait", "minutes": 3 * 1440},
                {"key": "day_5", "type": "send", "template": templates[2].pk},
            ],
            user=admin,
        )
        self.stdout.write(self.style.SUCCESS(f"  Journey “{journey.name}” (#{journey.pk}): draft, activate it to run"))
