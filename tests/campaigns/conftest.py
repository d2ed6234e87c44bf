from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from campaigns import engine as send_engine_seam
from campaigns.engine import SendEngine
from tests.campaigns.clock import NOW
from tests.scheduler.fake_engine import FakeEngine


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """campaigns' calls into the send engine go to a recorder that sends nothing."""
    fake = FakeEngine()
    stand_in: SendEngine = fake  # the fake satisfies the engine's Protocol (mypy checks this line)
    monkeypatch.setattr(send_engine_seam, "send_engine", lambda: stand_in)
    return fake


@pytest.fixture
def frozen() -> Iterator[Any]:
    """Time stands still at `clock.NOW`."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
