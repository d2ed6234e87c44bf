"""Beat and `run_automation` firing the same due time at the same moment: one run, one Send."""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.db import connection

from automations import services
from automations.models import AutomationRun
from delivery.models import Send
from tests.automations.conftest import NOW, make_automation, make_contacts, make_segment, make_template


@pytest.mark.django_db(transaction=True)
def test_racing_firings_of_one_due_time_record_one_run_and_one_send() -> None:
    automation = make_automation(make_segment(make_contacts(3)), make_template())
    barrier = threading.Barrier(4)
    results: list[bool] = []
    errors: list[BaseException] = []

    def fire(trigger: str) -> None:
        try:
            barrier.wait()
            results.append(services.automation_run(automation_id=automation.pk, due_at=NOW, trigger=trigger).created)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(NOW, tick=False):
        threads = [threading.Thread(target=fire, args=(t,)) for t in ("schedule", "manual", "schedule", "manual")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert not errors
    assert sorted(results) == [False, False, False, True]
    assert AutomationRun.objects.count() == 1
    assert Send.objects.count() == 1
