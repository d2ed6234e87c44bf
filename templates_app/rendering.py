"""Rendering of message content: compile once per send, personalise per recipient.

A compiled message holds Django `Template` objects built by an `Engine` with no loaders, no builtins beyond the
default filters, and a context of plain values only, so user-written content cannot reach settings, files or the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template import Context, Engine, Template

_engine = Engine(loaders=[], libraries={}, debug=False, autoescape=True)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class CompiledMessage:
    subject: Template
    html: Template | None
    text: Template | None

    def render(self, context: dict[str, Any]) -> RenderedEmail:
        plain_ctx = Context(context, autoescape=False)
        html_ctx = Context(context, autoescape=True)
        subject = self.subject.render(plain_ctx).strip()
        html = self.html.render(html_ctx) if self.html is not None else ""
        text = self.text.render(plain_ctx) if self.text is not None else ""
        return RenderedEmail(subject=subject, html=html, text=text)


def compile_message(*, subject: str, body_text: str = "", body_html: str = "") -> CompiledMessage:
    """Compile plain subject/text/html content (seed 000's scenario content). Raises TemplateSyntaxError."""
    return CompiledMessage(
        subject=_engine.from_string(subject),
        html=_engine.from_string(body_html) if body_html else None,
        text=_engine.from_string(body_text) if body_text else None,
    )
