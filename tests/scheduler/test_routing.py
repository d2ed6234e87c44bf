from __future__ import annotations

from scheduler.routing import TAIL_PAGE_PRIORITY, TICK_QUEUE, route_task


def test_first_page_of_a_send_keeps_the_default_priority() -> None:
    assert route_task("delivery.tasks.page_send_task", (7, 0), {}, {}) is None


def test_later_pages_go_one_priority_step_down() -> None:
    assert route_task("delivery.tasks.page_send_task", (7, 3), {}, {}) == {"priority": TAIL_PAGE_PRIORITY}
    assert route_task("delivery.tasks.page_send_task", (), {"send_id": 7, "page": 2}, {}) == {
        "priority": TAIL_PAGE_PRIORITY
    }


def test_the_tick_goes_to_its_own_queue() -> None:
    assert route_task("scheduler.tasks.tick_task", (), {}, {}) == {"queue": TICK_QUEUE}


def test_dispatch_and_drain_tasks_are_not_routed() -> None:
    assert route_task("campaigns.tasks.emailer_run_task", (5,), {}, {}) is None
    assert route_task("automations.tasks.journeys_drain_task", (0,), {}, {}) is None


def test_a_worker_started_without_q_consumes_the_default_and_the_tick_queue() -> None:
    from config.celery import app

    assert {queue.name for queue in app.amqp.queues.consume_from.values()} == {"celery", TICK_QUEUE}


def test_celery_sends_the_tick_to_its_queue() -> None:
    from config.celery import app

    route = app.amqp.router.route({}, "scheduler.tasks.tick_task", args=(), kwargs={})
    assert route["queue"].name == TICK_QUEUE
    assert route["queue"].routing_key == TICK_QUEUE


def test_celery_applies_the_route_to_page_tasks() -> None:
    from celery import Celery

    app = Celery("routing-test", set_as_current=False)
    app.conf.task_routes = ("scheduler.routing.route_task",)
    router = app.amqp.router
    assert router.route({}, "delivery.tasks.page_send_task", args=(1, 4), kwargs={})["priority"] == TAIL_PAGE_PRIORITY
    assert "priority" not in router.route({}, "delivery.tasks.page_send_task", args=(1, 0), kwargs={})
