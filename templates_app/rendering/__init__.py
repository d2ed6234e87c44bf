"""Rendering of message content: compile once per send, personalise per recipient.

Compile (once, `compiling`): MJML -> HTML with mjml-python, then the HTML, a plain-text version of it (`text`) and
the subject become Django `Template` objects in the `sandbox`. Render (per recipient, `message.CompiledMessage`):
each template with a plain-dict context; content made only of text and `{{ ... }}` (most newsletters) renders
through `fast.PlainMessage` (one `str.format` per part, the same output as Django's render), content with block
tags through `fast.FastTemplate`, both within the render `limits`. `mjml_errors` finds the line of an MJML error;
`variables` lists what a template reads. `mj-include` fails in mjml-python (no include loader is given), so MJML
cannot read files either.

Every public name is importable from `templates_app.rendering`, as before the package was split.
"""

from __future__ import annotations

from templates_app.rendering.compiling import compile_message, compile_mjml, compile_template, with_subject
from templates_app.rendering.errors import RenderError, RenderLimitExceeded, TemplateError
from templates_app.rendering.limits import BoundedForNode, render_max_bytes, render_max_seconds
from templates_app.rendering.message import (
    GMAIL_CLIP_BYTES,
    CompiledMessage,
    RenderedEmail,
    contact_context,
    html_size_bytes,
    personalisation_context,
)
from templates_app.rendering.sandbox import ALLOWED_TAGS, MAX_PAD_WIDTH, check_template_syntax
from templates_app.rendering.text import html_source_to_text_template, html_to_text
from templates_app.rendering.variables import CONTACT_FIELDS, LINK_VARIABLES, UsedVariable, template_variables

__all__ = [
    "ALLOWED_TAGS",
    "CONTACT_FIELDS",
    "GMAIL_CLIP_BYTES",
    "LINK_VARIABLES",
    "MAX_PAD_WIDTH",
    "BoundedForNode",
    "CompiledMessage",
    "RenderError",
    "RenderLimitExceeded",
    "RenderedEmail",
    "TemplateError",
    "UsedVariable",
    "check_template_syntax",
    "compile_message",
    "compile_mjml",
    "compile_template",
    "contact_context",
    "html_size_bytes",
    "html_source_to_text_template",
    "html_to_text",
    "personalisation_context",
    "render_max_bytes",
    "render_max_seconds",
    "template_variables",
    "with_subject",
]
