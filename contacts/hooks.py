"""How layers above contacts hear of new contacts, funnel events and batch members, whatever path wrote them.

contacts sits at the bottom and may not import them, so they are named in settings, as dotted paths
(imports keep pointing down, as SCHEDULER_TICK_HOOKS does for the scheduler):

    CONTACT_EVENT_HOOKS = ["automations.journeys.journeys_on_new_rows"]
        hook(*, after: dict[str, int]) -> Any

`after` holds the highest id of each table ("contact", "funnel_event", "batch_member") read just before the write;
after the write commits every hook is called and reads the rows above those ids, set-based (a 1M-row import is
one query per hook, not a million calls). Ids come from sequences, so every row the write inserted is above its
mark; rows of a concurrent write may be seen by both hooks, so a hook must be idempotent (journeys key each
enrollment by the row that triggered it). Why not a signal per row: imports write with INSERT ... SELECT and
know no ids. The cost is three index probes per write. A process killed between the commit and the hook loses
that notification (the rows stay; nothing is enrolled twice).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils.module_loading import import_string

from contacts.models import BatchMember, Contact, FunnelEvent

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _marks() -> dict[str, int]:
    return {
        "contact": Contact.objects.aggregate(m=Max("id"))["m"] or 0,
        "funnel_event": FunnelEvent.objects.aggregate(m=Max("id"))["m"] or 0,
        "batch_member": BatchMember.objects.aggregate(m=Max("id"))["m"] or 0,
    }


def _run(paths: list[str], after: dict[str, int]) -> None:
    for path in paths:
        try:
            import_string(path)(after=after)
        except Exception:  # a subscriber's bug must not fail the write that already committed
            logger.exception("contact event hook %s failed (after=%s)", path, after)


def announces_new_rows(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a contacts service that inserts contacts, events or batch members: its hooks run on commit."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        paths = list(getattr(settings, "CONTACT_EVENT_HOOKS", []))
        if not paths:
            return func(*args, **kwargs)
        after = _marks()
        result = func(*args, **kwargs)
        transaction.on_commit(lambda: _run(paths, after))
        return result

    return wrapper
