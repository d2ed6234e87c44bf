"""Celery routing that keeps the tick and the due-dispatch path ahead of big sends.

- The tick (`scheduler.tasks.tick_task`) has a queue of its own, `TICK_QUEUE`, declared next to Celery's default
  one in `CELERY_TASK_QUEUES`, so every worker started without `-Q` consumes both. kombu's Redis transport asks
  for the next message with one BRPOP over every (queue, priority) list, priority by priority, rotating the queues
  between calls: a tick is never behind more than one other message, however many thousands of pages wait. It used
  to share the default queue's top priority list with every send's first page and every drain task, and with a
  million journey enrollments due (hundreds of small Sends, each with a first page at that priority) it waited
  behind them past its 5 s expiry (docs/benchmarks.md, journeys).
- `emailer_run_task` and every send's first page go at the default priority; the other pages of a send one step
  down. On Redis (kombu serves lower numbers first) a scenario that falls due while another send has thousands of
  pages queued is claimed, snapshotted and at the provider within about a second instead of waiting behind the
  whole backlog (bench/due.py, docs/benchmarks/due.md).

The filesystem broker of the embedded mode ignores priorities and polls both queues, which is harmless there.
Enabled by `CELERY_TASK_ROUTES = ("scheduler.routing.route_task",)`.
"""

from __future__ import annotations

from typing import Any

PAGE_TASK = "delivery.tasks.page_send_task"
TICK_TASK = "scheduler.tasks.tick_task"
TICK_QUEUE = "herald_tick"
DEFAULT_QUEUE = "celery"
# One of kombu's Redis priority steps (0, 3, 6, 9) below the default 0.
TAIL_PAGE_PRIORITY = 6


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict[str, Any] | None:
    if name == TICK_TASK:
        return {"queue": TICK_QUEUE}
    if name != PAGE_TASK:
        return None
    page = args[1] if args and len(args) > 1 else (kwargs or {}).get("page")
    if page is None or int(page) == 0:
        return None
    return {"priority": TAIL_PAGE_PRIORITY}
