from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts import roles
from campaigns import selectors, services
from campaigns.models import Campaign, Scenario
from contacts import services as contact_services
from contacts.models import ImportJob
from scheduler import services as scheduler_services

DEMO_CAMPAIGN = "Herald demo"
DEMO_SUBJECT = "Welcome to Herald"
DEMO_CONTENT = (
    "Hi {{ first_name|default:'there' }},\n\n"
    "this is Herald's demo scenario. It was planned by the scheduler, claimed by the dispatch tick and sent by a "
    "worker, and it is now in the Outbox. The unsubscribe link below works.\n\n"
    "See how it did: {dashboard}\n"
    "(the link goes through Herald's click tracking: clicking it here counts as a click in the report)\n\n"
    "The Herald team"
)
FIRST_NAMES = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Dennis",
    "Linus",
    "Guido",
    "Radia",
    "Frances",
    "John",
    "Katherine",
    "Tim",
    "Vint",
    "Bjarne",
    "Hedy",
    "Niklaus",
    "Adele",
    "Leslie",
    "Sophie",
    "Anita",
    "Shafi",
]
# Far enough ahead that the scenario is planned and the tick claims it on its own, near enough to watch it land.
LEAD = dt.timedelta(minutes=1)


class Command(BaseCommand):
    help = (
        "Demo data for `make run` (idempotent): the `admin` user (password generated once, kept in "
        "var/admin_password.txt and printed), 25 demo contacts in a demo campaign's batch, a demo scenario due in "
        "about a minute (refreshed on every run), and the beat schedule."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-scenario", action="store_true", help="Do not create or move the demo scenario")

    def handle(self, *args: Any, **options: Any) -> None:
        password = self._admin()
        campaign = self._campaign()
        added = self._contacts(campaign)
        scenario = None if options["no_scenario"] else self._scenario(campaign)
        if scenario is None and not options["no_scenario"]:
            self.stdout.write("  The demo scenario went out on an earlier start; it is not sent again.")
        schedule = scheduler_services.schedule_sync()

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Campaign “{campaign.name}” (#{campaign.pk}): {added}")
        if scenario is not None:
            at = timezone.localtime(selectors.scenario_scheduled_at(scenario=scenario))
            self.stdout.write(f"  Scenario “{scenario.subject}” (#{scenario.pk}) due at {at:%H:%M} {at.tzname()}")
            self.stdout.write(f"  Watch it land in the Outbox: {settings.HERALD_BASE_URL}/outbox/")
        self.stdout.write(f"  Beat: daily plan at {schedule['daily_at']}, tick every {schedule['tick_seconds']} s")
        self.stdout.write(self.style.WARNING(f"  Log in at {settings.HERALD_BASE_URL}/ as admin / {password}"))

    def _password_file(self) -> Path:
        return Path(settings.BASE_DIR) / "var" / "admin_password.txt"

    def _admin(self) -> str:
        """The password is made once; later runs print the stored one and leave the user's password alone."""
        path = self._password_file()
        stored = path.read_text().strip() if path.exists() else ""
        user = User.objects.filter(username="admin").first()
        if user is None or not stored:
            stored = stored or secrets.token_urlsafe(12)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(stored + "\n")
            path.chmod(0o600)
            if user is None:
                user = User.objects.create_user("admin", email="admin@localhost", password=stored)
            else:
                user.set_password(stored)
                user.save(update_fields=["password"])
        if not (user.is_staff and user.is_superuser):
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        user.groups.add(Group.objects.get_or_create(name=roles.ADMIN)[0])
        return stored

    def _campaign(self) -> Campaign:
        today = timezone.localdate()
        admin = User.objects.get(username="admin")
        campaign = Campaign.objects.filter(name=DEMO_CAMPAIGN).order_by("id").first()
        if campaign is None:
            return services.campaign_create(
                name=DEMO_CAMPAIGN,
                description="Created by `manage.py seed_demo`: 25 demo contacts and a scenario due a minute after "
                "each start.",
                start_date=today - dt.timedelta(days=1),
                end_date=today + dt.timedelta(days=30),
                timezone=settings.TIME_ZONE,
                user=admin,
            )
        changes: dict[str, Any] = {}
        if campaign.end_date < today + dt.timedelta(days=1):
            changes["end_date"] = today + dt.timedelta(days=30)
        if campaign.start_date > today:
            changes["start_date"] = today
        if campaign.status != Campaign.Status.ACTIVE:
            changes["status"] = Campaign.Status.ACTIVE
        if changes:
            campaign = services.campaign_update(campaign=campaign, **changes)
        return campaign

    def _contacts(self, campaign: Campaign) -> str:
        """The demo contacts go through the one import path (the same as an upload), run here and now."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["name", "email"])
        for i, first in enumerate(FIRST_NAMES, start=1):
            writer.writerow([f"{first} Demo", f"{first.lower()}.demo{i}@example.com"])
        job = contact_services.import_job_create(
            file=ContentFile(out.getvalue().encode(), name="demo_contacts.csv"),
            original_name="demo_contacts.csv",
            kind=ImportJob.Kind.CONTACTS,
            batch=campaign.batch,
            start=False,
        )
        job = contact_services.import_job_run(job_id=job.pk)
        size = campaign.batch.members.count()
        return f"{size} contacts in its batch (demo import: {job.created} new, {job.errors} errors)"

    @transaction.atomic
    def _scenario(self, campaign: Campaign) -> Scenario | None:
        """Move the waiting demo scenario (or create one) to the next whole minute at least LEAD from now.

        Once the demo scenario has gone out (or started to), a restart of `make run` leaves it alone: sending the
        "Welcome" again to the same contacts on every start is what a real user would call a bug (issue 12).
        """
        now = timezone.now()
        zone = selectors.campaign_zone(campaign=campaign)
        due = (now + LEAD + dt.timedelta(seconds=59)).astimezone(zone).replace(second=0, microsecond=0)
        fields: dict[str, Any] = {
            "subject": DEMO_SUBJECT,
            "content": DEMO_CONTENT.replace("{dashboard}", f"{settings.HERALD_BASE_URL}/"),
            "send_date": due.date(),
            "send_time": due.time(),
        }
        waiting = (
            Scenario.objects.filter(campaign=campaign, subject=DEMO_SUBJECT, status=Scenario.Status.SCHEDULED)
            .exclude(emailer__dispatched_at__isnull=False)
            .order_by("-id")
            .first()
        )
        if waiting is not None:
            return services.scenario_update(scenario=waiting, **fields)
        if Scenario.objects.filter(campaign=campaign, subject=DEMO_SUBJECT).exists():
            return None
        return services.scenario_create(campaign=campaign, user=campaign.created_by, **fields)
