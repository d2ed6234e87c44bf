"""Which variables a template reads (for the pre-send check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template import defaulttags

from templates_app.rendering.sandbox import template_from_source

CONTACT_FIELDS = ("first_name", "last_name", "full_name", "email", "mobile", "lms_lead_id")
LINK_VARIABLES = ("unsubscribe_url", "view_in_browser_url", "view_url")


@dataclass(frozen=True)
class UsedVariable:
    """A `{{ name }}` a template reads: `attribute` is set when it is a contact attribute (bare or `attributes.x`)."""

    expression: str
    root: str
    attribute: str
    has_default: bool


_DEFAULT_FILTERS = {"default", "default_if_none"}


def template_variables(source: str) -> list[UsedVariable]:
    """Every variable `source` reads outside loop/with bindings, in order of first use (compiles it first)."""
    from django.template.base import FilterExpression, Node, Variable

    template = template_from_source(source, kind="template")
    found: dict[str, UsedVariable] = {}
    bound: set[str] = {"forloop", "block"}
    seen_ids: set[int] = set()

    def visit(obj: Any) -> None:
        if id(obj) in seen_ids or obj is None or isinstance(obj, str | int | float | bool):
            return
        seen_ids.add(id(obj))
        if isinstance(obj, FilterExpression):
            has_default = any(getattr(f, "__name__", "") in _DEFAULT_FILTERS for f, _ in obj.filters)
            var = obj.var
            if isinstance(var, Variable) and var.lookups:
                record(var.lookups, has_default)
            for _f, args in obj.filters:
                for lookup, arg in args:
                    if lookup and isinstance(arg, Variable) and arg.lookups:
                        record(arg.lookups, True)
            return
        if isinstance(obj, defaulttags.ForNode):
            bound.update(obj.loopvars)
        if isinstance(obj, defaulttags.WithNode):
            bound.update(obj.extra_context)
        if isinstance(obj, list | tuple | set):
            for value in obj:
                visit(value)
        elif isinstance(obj, dict):
            for value in obj.values():
                visit(value)
        elif (isinstance(obj, Node) or type(obj).__module__.startswith("django.template")) and hasattr(obj, "__dict__"):
            for value in vars(obj).values():
                visit(value)

    def record(lookups: tuple[str, ...], has_default: bool) -> None:
        root = lookups[0]
        if root == "attributes":
            attribute = lookups[1] if len(lookups) > 1 else ""
        elif root in CONTACT_FIELDS or root in LINK_VARIABLES:
            attribute = ""
        else:
            attribute = root
        expression = ".".join(lookups[:2]) if root == "attributes" else root
        previous = found.get(expression)
        if previous is None or (previous.has_default and not has_default):
            found[expression] = UsedVariable(
                expression=expression, root=root, attribute=attribute, has_default=has_default
            )

    visit(template.nodelist)
    return [v for v in found.values() if v.root not in bound]
