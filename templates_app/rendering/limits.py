"""Render limits: a deadline and an output budget per render.

Django templates have no iteration limit: three nested `{% for %}` over 200-character strings are 8M iterations
(7.8 s and 8 MB in one preview). Loops are the only construct that multiplies work and output (there is no
include, recursion or range), so the sandbox's `for` is a ForNode that checks a per-render budget on every
iteration: a deadline (time.monotonic) and the characters its iterations produced. The budget lives in a
ContextVar, so each thread (and each asyncio task) renders with its own. The finished parts are then checked
against the byte limit, which also bounds content without loops.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any, cast

from django.conf import settings
from django.template import Context, defaulttags
from django.template.base import FilterExpression, NodeList
from django.utils.safestring import mark_safe

from templates_app.rendering.errors import RenderLimitExceeded


def render_max_seconds() -> float:
    return float(settings.TEMPLATE_RENDER_MAX_SECONDS)


def render_max_bytes() -> int:
    return int(settings.TEMPLATE_RENDER_MAX_BYTES)


class Budget:
    __slots__ = ("chars", "deadline", "limit", "max_chars")

    def __init__(self, *, deadline: float, limit: str, max_chars: int) -> None:
        self.deadline = deadline
        self.limit = limit  # the time limit in words, for the error
        self.max_chars = max_chars
        self.chars = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimitExceeded(
                f"Rendering took longer than {self.limit} and was stopped. "
                "Make the loops smaller (a {% for %} inside a {% for %} multiplies)."
            )

    def produced(self, before: int, length: int) -> None:
        # `before` is the count when the piece started: loops nested in the piece counted their own iterations,
        # which the piece now contains, so they are replaced by its length rather than counted twice.
        self.chars = before + length
        if self.chars > self.max_chars:
            raise RenderLimitExceeded(too_large_message(self.max_chars))


budget_var: ContextVar[Budget | None] = ContextVar("herald_render_budget", default=None)
_BUDGET_KEY = "herald_render_budget"


def too_large_message(limit: int) -> str:
    return f"The rendered message is larger than {limit:,} bytes and was stopped. Make the loops smaller."


def _current_budget(context: Context) -> Budget:
    budget = budget_var.get()
    if budget is not None:
        return budget
    # Rendered outside CompiledMessage.render (a bare Template.render): a budget for this render alone.
    found = context.render_context.get(_BUDGET_KEY)
    if found is None:
        seconds = render_max_seconds()
        found = Budget(deadline=time.monotonic() + seconds, limit=f"{seconds:g} s", max_chars=render_max_bytes())
        context.render_context[_BUDGET_KEY] = found
    return found


class BoundedForNode(defaulttags.ForNode):
    """Django 5.2's ForNode.render with the render budget checked on every iteration."""

    def render(self, context: Context) -> str:
        budget = _current_budget(context)
        parentloop = context.get("forloop", {})
        with context.push():
            values = cast(FilterExpression, self.sequence).resolve(context, ignore_failures=True)
            if values is None:
                values = []
            if not hasattr(values, "__len__"):
                values = list(values)
            len_values = len(values)
            if len_values < 1:
                return cast(NodeList, self.nodelist_empty).render(context)
            nodelist: list[str] = []
            if self.is_reversed:
                values = reversed(values)
            num_loopvars = len(self.loopvars)
            unpack = num_loopvars > 1
            loop_dict = context["forloop"] = {"parentloop": parentloop}
            for i, item in enumerate(values):
                budget.tick()
                loop_dict["counter0"] = i
                loop_dict["counter"] = i + 1
                loop_dict["revcounter"] = len_values - i
                loop_dict["revcounter0"] = len_values - i - 1
                loop_dict["first"] = i == 0
                loop_dict["last"] = i == len_values - 1
                pop_context = False
                if unpack:
                    try:
                        len_item = len(item)
                    except TypeError:  # not an iterable
                        len_item = 1
                    if num_loopvars != len_item:
                        raise ValueError(f"Need {num_loopvars} values to unpack in for loop; got {len_item}. ")
                    pop_context = True
                    context.update(dict(zip(self.loopvars, item, strict=False)))
                else:
                    context[self.loopvars[0]] = item
                for node in cast(NodeList, self.nodelist_loop):
                    before = budget.chars
                    piece = cast(str, node.render_annotated(context))
                    budget.produced(before, len(piece))
                    nodelist.append(piece)
                if pop_context:
                    context.pop()
        return mark_safe("".join(nodelist))


def bounded_for(parser: Any, token: Any) -> BoundedForNode:
    node = defaulttags.do_for(parser, token)
    return BoundedForNode(node.loopvars, node.sequence, node.is_reversed, node.nodelist_loop, node.nodelist_empty)
