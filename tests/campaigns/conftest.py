from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from campaigns import services
from tests.campaigns.clock import NOW
from tests.scheduler.fake_engine import FakeEngine


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """campaigns' calls into the send engine go to a recorder that sends nothing."""
    fake = FakeEngine()
    monkeypatch.setattr(services, "_engine", lambda: fake)
    return fake


@pytest.fixture
def frozen() -> Iterator[Any]:
    """Time stands still at `clock.NOW`."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
