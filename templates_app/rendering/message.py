"""A compiled message and the context it renders with: compile once per send, personalise per recipient."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.template import Context, Template

from templates_app.rendering.errors import RENDER_FAULTS, RenderError, RenderLimitExceeded, TemplateError
from templates_app.rendering.fast import FastTemplate, PlainMessage
from templates_app.rendering.limits import Budget, budget_var, render_max_bytes, render_max_seconds, too_large_message
from templates_app.rendering.text import html_to_text

# Gmail clips messages whose HTML is larger than 102 KB.
GMAIL_CLIP_BYTES = 102 * 1024
_BLANK_LINES = re.compile(r"\n\n\n+")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def html_size_bytes(html: str) -> int:
    return len(html.encode())


@dataclass(frozen=True)
class CompiledMessage:
    """Templates compiled once; `render` personalises them for one recipient (a plain dict)."""

    subject: Template
    html: Template | None
    text: Template | None
    # True when the text part could not be derived at compile time: it is then made from each rendered HTML.
    text_from_rendered_html: bool = False

    @cached_property
    def _fast(self) -> tuple[FastTemplate, FastTemplate | None, FastTemplate | None]:
        return (
            FastTemplate(self.subject),
            FastTemplate(self.html) if self.html is not None else None,
            FastTemplate(self.text) if self.text is not None else None,
        )

    @cached_property
    def _plain(self) -> PlainMessage | None:
        return PlainMessage.build((self.subject, self.html, self.text))

    def render(self, context: Mapping[str, Any], *, deadline: float | None = None) -> RenderedEmail:
        """Personalise for one recipient. Raises RenderError (a TemplateError, with the line where known) when the
        content fails on this recipient's values, and RenderLimitExceeded past TEMPLATE_RENDER_MAX_SECONDS (or
        `deadline`, a time.monotonic() value, when earlier) or TEMPLATE_RENDER_MAX_BYTES."""
        seconds = render_max_seconds()
        limit = render_max_bytes()
        until = time.monotonic() + seconds
        what = f"{seconds:g} s"
        if deadline is not None and deadline < until:
            until, what = deadline, "the time allowed for its page of emails"
        token = budget_var.set(Budget(deadline=until, limit=what, max_chars=limit))
        try:
            rendered = self._render(context)
        except TemplateError:
            raise
        except RENDER_FAULTS as exc:
            debug = getattr(exc, "template_debug", None)
            line = debug.get("line") if isinstance(debug, dict) else None
            raise RenderError(f"Rendering failed: {exc}", line=line, source="template") from exc
        finally:
            budget_var.reset(token)
        parts = (rendered.subject, rendered.html, rendered.text)
        size = sum(map(len, parts))
        if size * 4 > limit:  # UTF-8 takes at most 4 bytes a character: only a large message is encoded to count
            size = sum(len(part.encode()) for part in parts)
        if size > limit:
            raise RenderLimitExceeded(too_large_message(limit))
        return rendered

    def _render(self, context: Mapping[str, Any]) -> RenderedEmail:
        values = personalisation_context(context)
        plain = self._plain
        if plain is not None:
            subject, html, text = plain.render(values)
            if self.text is not None:
                text = text.strip() + "\n"
            elif self.text_from_rendered_html and html:
                text = html_to_text(html)
            return RenderedEmail(subject=" ".join(subject.split()), html=html, text=text)
        subject_tpl, html_tpl, text_tpl = self._fast
        plain_ctx = Context(values, autoescape=False)
        resolved: dict[str, Any] = {}
        subject = " ".join(subject_tpl.render(plain_ctx, resolved).split())
        html = html_tpl.render(Context(values, autoescape=True), resolved) if html_tpl is not None else ""
        if text_tpl is not None:
            text = text_tpl.render(plain_ctx, resolved)
            if text_tpl.has_blocks and "\n\n\n" in text:
                # {% if %} blocks that render nothing leave runs of blank lines behind.
                text = _BLANK_LINES.sub("\n\n", text)
            text = text.strip() + "\n"
        elif self.text_from_rendered_html and html:
            text = html_to_text(html)
        else:
            text = ""
        return RenderedEmail(subject=subject, html=html, text=text)


def personalisation_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The dict templates see: attributes also by bare name (`{{ city }}`) unless a contact field has it.

    System variables (LINK_VARIABLES) always come from Herald, never from contact data: an attribute named
    `view_in_browser_url` or `unsubscribe_url` would otherwise replace the real link in every email sent to that
    contact (it stays readable as `{{ attributes.view_in_browser_url }}`)."""
    attributes = context.get("attributes")
    values: dict[str, Any] = dict(attributes) if isinstance(attributes, Mapping) else {}
    values.update(context)
    # The engine calls the context `view_url`; templates are documented with `view_in_browser_url`.
    view = context.get("view_in_browser_url") or context.get("view_url") or ""
    values["view_in_browser_url"] = values["view_url"] = view
    values["unsubscribe_url"] = context.get("unsubscribe_url") or ""
    if "full_name" not in values and ("first_name" in values or "last_name" in values):
        values["full_name"] = f"{values.get('first_name') or ''} {values.get('last_name') or ''}".strip()
    return values


def contact_context(
    *,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    mobile: str = "",
    lms_lead_id: str | None = "",
    attributes: Mapping[str, Any] | None = None,
    unsubscribe_url: str = "",
    view_in_browser_url: str = "",
) -> dict[str, Any]:
    """The context for one recipient, from plain values (what previews, test sends and checks use)."""
    return {
        "first_name": first_name or "",
        "last_name": last_name or "",
        "full_name": f"{first_name or ''} {last_name or ''}".strip(),
        "email": email or "",
        "mobile": mobile or "",
        "lms_lead_id": lms_lead_id or "",
        "attributes": dict(attributes or {}),
        "unsubscribe_url": unsubscribe_url,
        "view_in_browser_url": view_in_browser_url,
        "view_url": view_in_browser_url,
    }
