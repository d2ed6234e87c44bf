"""Compiling content once per send: MJML to HTML, then the subject, HTML and text parts to sandboxed templates."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.template import Template, TemplateSyntaxError

from templates_app.rendering.errors import TemplateError
from templates_app.rendering.message import CompiledMessage
from templates_app.rendering.mjml_errors import locate_mjml_error
from templates_app.rendering.sandbox import check_template_syntax, engine, template_from_source
from templates_app.rendering.text import html_source_to_text_template


def compile_mjml(source: str) -> str:
    """MJML to HTML. Raises TemplateError with the line of the fault (as near as it can be found)."""
    from mjml import mjml2html

    try:
        return str(mjml2html(source, disable_comments=True))
    except (ValueError, RuntimeError) as exc:
        message = str(exc)
        line, hint = locate_mjml_error(source, message)
        text = f"MJML does not compile: {message}."
        if hint:
            text += f" {hint}"
        raise TemplateError(text, line=line, source="mjml") from exc


def compile_message(*, subject: str, body_text: str = "", body_html: str = "", body_mjml: str = "") -> CompiledMessage:
    """Compile content once. Plain `body_text` alone (seed 000's scenario content) sends a text-only email;
    HTML (given, or compiled from `body_mjml`) gets a text part derived from it unless `body_text` is given.

    Raises TemplateError (a ValueError) with the line of the fault.
    """
    subject_tpl = template_from_source(subject or "", kind="subject")
    if body_mjml:
        check_template_syntax(body_mjml, kind="template")  # line numbers in the user's MJML, not in its output
        body_html = compile_mjml(body_mjml)
    html_tpl = template_from_source(body_html, kind="template") if body_html else None
    text_tpl: Template | None = None
    from_rendered = False
    if body_text:
        text_tpl = template_from_source(body_text, kind="template")
    elif body_html:
        try:
            text_tpl = engine.from_string(html_source_to_text_template(body_html))
        except TemplateSyntaxError:
            # A tag pair split by markup the text drops (e.g. {% if %} in <head>, {% endif %} in <body>):
            # derive the text from each rendered HTML instead (slower, same result).
            from_rendered = True
    return CompiledMessage(subject=subject_tpl, html=html_tpl, text=text_tpl, text_from_rendered_html=from_rendered)


def compile_template(*, template: Any) -> CompiledMessage:
    """Compile a MessageTemplate (MJML compiled once). The send engine calls this once per send."""
    kind = template.templating_type
    if kind == "mjml":
        return compile_message(subject=template.subject, body_mjml=template.message)
    if kind == "html":
        return compile_message(subject=template.subject, body_html=template.message)
    return compile_message(subject=template.subject, body_text=template.message)


def with_subject(compiled: CompiledMessage, subject: str) -> CompiledMessage:
    return dataclasses.replace(compiled, subject=template_from_source(subject, kind="subject"))
