"""Celery routing that keeps the due-dispatch path ahead of big sends on one Redis queue.

The tick, `emailer_run_task` and every send's first page go at the default priority; the other pages of a send
one step down. On Redis (kombu serves lower numbers first) a scenario that falls due while another send has
thousands of pages queued is claimed, snapshotted and at the provider within about a second instead of waiting
behind the whole backlog (bench/due.py, docs/benchmarks/due.md). The filesystem broker of the embedded mode
ignores priorities, which is harmless there. Enabled by `CELERY_TASK_ROUTES = ("scheduler.routing.route_task",)`.
"""

from __future__ import annotations

from typing import Any

PAGE_TASK = "delivery.tasks.page_send_task"
# One of kombu's Redis priority steps (0, 3, 6, 9) below the default 0.
TAIL_PAGE_PRIORITY = 6


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict[str, Any] | None:
    if name != PAGE_TASK:
        return None
    page = args[1] if args and len(args) > 1 else (kwargs or {}).get("page")
    if page is None or int(page) == 0:
        return None
    return {"priority": TAIL_PAGE_PRIORITY}
