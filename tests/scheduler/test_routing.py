from __future__ import annotations

from scheduler.routing import TAIL_PAGE_PRIORITY, route_task


def test_first_page_of_a_send_keeps_the_default_priority() -> None:
    assert route_task("delivery.tasks.page_send_task", (7, 0), {}, {}) is None


def test_later_pages_go_one_priority_step_down() -> None:
    assert route_task("delivery.tasks.page_send_task", (7, 3), {}, {}) == {"priority": TAIL_PAGE_PRIORITY}
    assert route_task("delivery.tasks.page_send_task", (), {"send_id": 7, "page": 2}, {}) == {
        "priority": TAIL_PAGE_PRIORITY
    }


def test_scheduling_tasks_are_not_routed() -> None:
    assert route_task("scheduler.tasks.tick_task", (), {}, {}) is None
    assert route_task("campaigns.tasks.emailer_run_task", (5,), {}, {}) is None


def test_celery_applies_the_route_to_page_tasks() -> None:
    from celery import Celery

    app = Celery("routing-test", set_as_current=False)
    app.conf.task_routes = ("scheduler.routing.route_task",)
    router = app.amqp.router
    assert router.route({}, "delivery.tasks.page_send_task", args=(1, 4), kwargs={})["priority"] == TAIL_PAGE_PRIORITY
    assert "priority" not in router.route({}, "delivery.tasks.page_send_task", args=(1, 0), kwargs={})
