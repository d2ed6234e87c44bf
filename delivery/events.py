"""How the send engine tells the layers above it what happened to a Send.

`delivery` sits below `campaigns` and `automations` and may not import them, so they subscribe here (in their
AppConfig.ready) and the engine calls every subscriber after the state change has committed. Each event is also
a `SendNotice` row written with the change, so one that a dying process never published is published again by the
tick (`delivery.services.notices_redeliver`): subscribers must be conditional (safe to hear an event twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

logger = logging.getLogger(__name__)

SendEvent = Literal["started", "paused", "resumed", "finished", "failed", "cancelled"]
Handler = Callable[[int, SendEvent, str], None]

_handlers: list[Handler] = []


def subscribe(handler: Handler) -> None:
    if handler not in _handlers:
        _handlers.append(handler)


def publish(*, send_id: int, event: SendEvent, reason: str = "") -> bool:
    """Call every subscriber; True when none raised (the notice is then published for good)."""
    ok = True
    for handler in list(_handlers):
        try:
            handler(send_id, event, reason)
        except Exception:  # one subscriber's bug must not stop the engine or the other subscribers
            ok = False
            logger.exception("send event handler %r failed for send %s (%s)", handler, send_id, event)
    return ok
