from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns import services
from campaigns.models import Scenario


class Command(BaseCommand):
    help = "Lifecycle of a scenario: pause, resume or cancel its sending, or retry its failed recipients."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=sorted(services.SCENARIO_ACTIONS))
        parser.add_argument("scenario_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scenario = services.scenario_action(scenario_id=options["scenario_id"], action=options["action"])
        except Scenario.DoesNotExist as exc:
            raise CommandError(f"No scenario #{options['scenario_id']}.") from exc
        except services.ScenarioStateError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Scenario #{scenario.pk} is now {scenario.get_status_display().lower()}.")
        )
