from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns import services
from campaigns.models import Scenario


class Command(BaseCommand):
    help = "Send a draft or scheduled scenario now (a worker sends it), or schedule it with --at."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenario_id", type=int)
        parser.add_argument(
            "--at",
            help="ISO datetime to schedule instead of sending now (read in the campaign's zone when it has no offset)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        at = None
        if options["at"]:
            try:
                at = dt.datetime.fromisoformat(options["at"])
            except ValueError as exc:
                raise CommandError(f"--at must be an ISO datetime, not {options['at']!r}.") from exc
        try:
            scenario = services.scenario_send(scenario_id=options["scenario_id"], at=at)
        except Scenario.DoesNotExist as exc:
            raise CommandError(f"No scenario #{options['scenario_id']}.") from exc
        except services.ScenarioStateError as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if scenario.status == Scenario.Status.SENDING:
            self.stdout.write(self.style.SUCCESS(f"Scenario #{scenario.pk} “{scenario}” handed to a worker."))
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Scenario #{scenario.pk} “{scenario}” scheduled for {scenario.send_date} {scenario.send_time:%H:%M}."
                )
            )
