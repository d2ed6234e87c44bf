"""The sandbox user-written templates compile in (ARCHITECTURE §7).

- The `Engine` has no loaders and no libraries, and its only builtins are the default filters plus a short list of
  harmless tags: no `{% load %}`, `{% include %}`, `{% extends %}`, `{% debug %}`, `{% url %}`, `{% csrf_token %}`.
- Filters that take a width or precision from the template are capped, and `{% for %}` checks the render budget
  (templates_app/rendering/limits.py).
- The context holds plain values only (strings, numbers, dicts and lists from jsonb), never model instances or
  settings, and Django refuses lookups that start with an underscore.
"""

from __future__ import annotations

import re
from typing import Any

from django.template import Engine, Library, Template, TemplateSyntaxError, defaultfilters, defaulttags

from templates_app.rendering.errors import TemplateError
from templates_app.rendering.limits import bounded_for

ALLOWED_TAGS = (
    "autoescape",
    "comment",
    "cycle",
    "filter",
    "firstof",
    "for",
    "if",
    "ifchanged",
    "now",
    "regroup",
    "resetcycle",
    "spaceless",
    "templatetag",
    "verbatim",
    "widthratio",
    "with",
)

_sandbox = Library()
_sandbox.filters.update(defaultfilters.register.filters)
for _name in ALLOWED_TAGS:
    _sandbox.tags[_name] = defaulttags.register.tags[_name]

# Padding filters take their width from the template: `{{ x|ljust:"999999999" }}` would build a gigabyte string
# per recipient. Same filters, width capped.
MAX_PAD_WIDTH = 1000


def _capped(name: str) -> Any:
    original = defaultfilters.register.filters[name]

    def padded(value: Any, arg: Any) -> Any:
        try:
            width = min(int(arg), MAX_PAD_WIDTH)
        except (TypeError, ValueError):
            return value
        return original(value, width)

    padded.is_safe = getattr(original, "is_safe", False)  # type: ignore[attr-defined]
    return padded


for _name in ("center", "ljust", "rjust"):
    _sandbox.filters[_name] = _capped(_name)

_FORMAT_NUMBER = re.compile(r"\d+")


def _numbers_capped(name: str) -> Any:
    """`stringformat:"0999999999d"` and `floatformat:"999999999"` take a width or precision from the template too:
    one expression would build a gigabyte string. Any number in the argument above MAX_PAD_WIDTH renders ""."""
    original = defaultfilters.register.filters[name]

    def bounded(value: Any, arg: Any = -1) -> Any:
        if any(int(n) > MAX_PAD_WIDTH for n in _FORMAT_NUMBER.findall(str(arg))):
            return ""
        return original(value, arg)

    bounded.is_safe = getattr(original, "is_safe", False)  # type: ignore[attr-defined]
    return bounded


for _name in ("stringformat", "floatformat"):
    _sandbox.filters[_name] = _numbers_capped(_name)

_sandbox.tags["for"] = bounded_for


def _make_engine() -> Engine:
    made = Engine(loaders=[], libraries={}, debug=True, autoescape=True, string_if_invalid="")
    # Engine always adds Django's default builtins (load, include, extends, debug, url, ...); replace them all.
    made.template_builtins = [_sandbox]
    made.template_libraries = {}
    return made


engine = _make_engine()


def template_from_source(source: str, *, kind: str) -> Template:
    """Compile `source` in the sandbox; a syntax error becomes a TemplateError with its line."""
    try:
        return engine.from_string(source)
    except TemplateSyntaxError as exc:
        line = None
        debug = getattr(exc, "template_debug", None)
        if isinstance(debug, dict):
            line = debug.get("line")
        message = str(exc)
        if "Invalid block tag" in message:
            message = message.replace(" Did you forget to register or load this tag?", "")
            message += " Only these tags are available: " + ", ".join(ALLOWED_TAGS) + "."
        raise TemplateError(message, line=line, source=kind) from exc


def check_template_syntax(source: str, *, kind: str = "template") -> Template:
    """Compile `source` in the sandbox; raises TemplateError with the line of the fault."""
    return template_from_source(source, kind=kind)
