"""API routes written as ARCHITECTURE §5 writes them (no trailing slash) that also answer with one, as the routers'
endpoints do (`trailing_slash = "/?"`): a client that adds the slash is served instead of getting a 404, and a POST
body is never lost to a redirect. The slashed form has no name (`reverse` gives the documented one) and is left out
of the OpenAPI schema (`drop_slashed_duplicates`, a drf-spectacular preprocessing hook)."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path


def slash_optional(route: str, view: Any, name: str) -> list[URLPattern]:
    return [path(route, view, name=name), path(f"{route}/", view)]


def drop_slashed_duplicates(
    endpoints: list[tuple[str, str, str, Any]], **kwargs: Any
) -> list[tuple[str, str, str, Any]]:
    """The schema's endpoints without the slashed twin of a route that is also listed without the slash."""
    unslashed = {(p, method) for p, _, method, _ in endpoints if not p.endswith("/")}
    return [e for e in endpoints if not (e[0].endswith("/") and (e[0][:-1], e[2]) in unslashed)]
