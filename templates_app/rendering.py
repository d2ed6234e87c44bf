"""Rendering of message content: compile once per send, personalise per recipient.

Compile (once): MJML -> HTML with mjml-python, then the HTML, a plain-text version of it and the subject become
Django `Template` objects. Render (per recipient): each template with a plain-dict context; content made only of
text and `{{ ... }}` (most newsletters) renders through `PlainMessage` (one `str.format` per part, the same output
as Django's render), content with block tags through `FastTemplate`.

The sandbox, because templates are written by users (ARCHITECTURE §7):
- the `Engine` has no loaders and no libraries, and its only builtins are the default filters plus a short list of
  harmless tags: no `{% load %}`, `{% include %}`, `{% extends %}`, `{% debug %}`, `{% url %}`, `{% csrf_token %}`;
- `mj-include` fails in mjml-python (no include loader is given), so MJML cannot read files either;
- the context holds plain values only (strings, numbers, dicts and lists from jsonb), never model instances or
  settings, and Django refuses lookups that start with an underscore.

The text part is derived from the HTML *source* once, at compile time, with the template tags kept in place, so
per recipient only two small template renders run instead of an HTML parse (the render benchmark depends on it).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from html import escape as _escape
from html.parser import HTMLParser
from typing import Any, cast

from django.conf import settings
from django.template import Context, Engine, Library, Template, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, NodeList, TextNode, VariableNode, render_value_in_context
from django.utils.safestring import SafeData, mark_safe

# --- the sandboxed engine ---------------------------------------------------------------------------------

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


# --- render limits ------------------------------------------------------------------------------------------
#
# Django templates have no iteration limit: three nested `{% for %}` over 200-character strings are 8M iterations
# (7.8 s and 8 MB in one preview). Loops are the only construct that multiplies work and output (there is no
# include, recursion or range), so the sandbox's `for` is a ForNode that checks a per-render budget on every
# iteration: a deadline (time.monotonic) and the characters its iterations produced. The budget lives in a
# ContextVar, so each thread (and each asyncio task) renders with its own. The finished parts are then checked
# against the byte limit, which also bounds content without loops.

DEFAULT_RENDER_MAX_SECONDS = 2.0
DEFAULT_RENDER_MAX_BYTES = 1_000_000


def render_max_seconds() -> float:
    return float(getattr(settings, "TEMPLATE_RENDER_MAX_SECONDS", DEFAULT_RENDER_MAX_SECONDS))


def render_max_bytes() -> int:
    return int(getattr(settings, "TEMPLATE_RENDER_MAX_BYTES", DEFAULT_RENDER_MAX_BYTES))


class _Budget:
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
            raise RenderLimitExceeded(_too_large_message(self.max_chars))


_budget: ContextVar[_Budget | None] = ContextVar("herald_render_budget", default=None)
_BUDGET_KEY = "herald_render_budget"


def _too_large_message(limit: int) -> str:
    return f"The rendered message is larger than {limit:,} bytes and was stopped. Make the loops smaller."


def _current_budget(context: Context) -> _Budget:
    budget = _budget.get()
    if budget is not None:
        return budget
    # Rendered outside CompiledMessage.render (a bare Template.render): a budget for this render alone.
    found = context.render_context.get(_BUDGET_KEY)
    if found is None:
        seconds = render_max_seconds()
        found = _Budget(deadline=time.monotonic() + seconds, limit=f"{seconds:g} s", max_chars=render_max_bytes())
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


def _bounded_for(parser: Any, token: Any) -> BoundedForNode:
    node = defaulttags.do_for(parser, token)
    return BoundedForNode(node.loopvars, node.sequence, node.is_reversed, node.nodelist_loop, node.nodelist_empty)


_sandbox.tags["for"] = _bounded_for


def _make_engine() -> Engine:
    engine = Engine(loaders=[], libraries={}, debug=True, autoescape=True, string_if_invalid="")
    # Engine always adds Django's default builtins (load, include, extends, debug, url, ...); replace them all.
    engine.template_builtins = [_sandbox]
    engine.template_libraries = {}
    return engine


_engine = _make_engine()

CONTACT_FIELDS = ("first_name", "last_name", "full_name", "email", "mobile", "lms_lead_id")
LINK_VARIABLES = ("unsubscribe_url", "view_in_browser_url", "view_url")
# Gmail clips messages whose HTML is larger than 102 KB.
GMAIL_CLIP_BYTES = 102 * 1024


class TemplateError(ValueError):
    """Content that does not compile; `line` is 1-based in the source the user wrote (None when unknown)."""

    def __init__(self, message: str, *, line: int | None = None, source: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.source = source  # "mjml", "template" or "subject"

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


class RenderError(TemplateError):
    """Content that compiles but fails while it renders (a filter or loop that cannot handle the value)."""


class RenderLimitExceeded(RenderError):
    """Rendering ran past TEMPLATE_RENDER_MAX_SECONDS or produced more than TEMPLATE_RENDER_MAX_BYTES."""


# What a user's template can make Django raise while rendering (a filter given the wrong type, an unpacking
# `{% for a, b in x %}`, a huge number). Anything else (a lost database connection, a worker's time limit) is
# not the content's fault and propagates unchanged.
_RENDER_FAULTS = (
    TypeError,
    ValueError,
    AttributeError,
    LookupError,
    ArithmeticError,
    RecursionError,
    TemplateSyntaxError,
)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


_PURE_NODES = (
    defaulttags.IfNode,
    defaulttags.ForNode,
    defaulttags.WithNode,
    defaulttags.CommentNode,
    defaulttags.AutoEscapeControlNode,
    defaulttags.SpacelessNode,
    defaulttags.VerbatimNode,
    defaulttags.FilterNode,
    defaulttags.IfChangedNode,
    defaulttags.TemplateTagNode,
)


_MISSING = object()


def _fast_lookup(fe: Any) -> tuple[tuple[str, ...], Any] | None:
    """For `{{ a }}`, `{{ a.b }}` and `{{ a|default:"x" }}`: the dict keys to follow and the default (or _MISSING).

    Rendering follows the keys through plain dicts and falls back to Django's own resolution as soon as a key is
    missing or a value is not a dict, so the output is the same as Django's; it only skips the general machinery.
    """
    from django.template.base import Variable

    var = fe.var
    if not isinstance(var, Variable) or not var.lookups or var.translate or var.message_context:
        return None
    if not all(bit.isidentifier() for bit in var.lookups):
        return None
    if not fe.filters:
        return var.lookups, _MISSING
    if len(fe.filters) == 1:
        func, args = fe.filters[0]
        if func is defaultfilters.default and len(args) == 1 and not args[0][0]:
            return var.lookups, args[0][1]
    return None


class FastTemplate:
    """A compiled Template rendered faster per recipient, with the same output as `Template.render`.

    The top-level nodes are flattened once: static text stays a string, and each distinct `{{ variable|filters }}`
    is resolved once per render however often it appears (a newsletter repeats `first_name` and links).
    Block tags (`{% if %}`, `{% for %}` ...) render through Django as usual.
    """

    __slots__ = ("has_blocks", "parts", "template")

    def __init__(self, template: Template) -> None:
        self.template = template
        parts: list[tuple[int, Any, bool, Any]] = []
        for node in template.nodelist:
            if isinstance(node, TextNode):
                if parts and parts[-1][0] == 0:
                    parts[-1] = (0, parts[-1][1] + node.s, False, None)
                else:
                    parts.append((0, node.s, False, None))
            elif isinstance(node, VariableNode):
                fe = node.filter_expression
                # A value whose filters ignore autoescaping resolves the same for the subject, HTML and text:
                # resolved once per recipient and shared between the three templates.
                shared = not any(getattr(func, "needs_autoescape", False) for func, _args in fe.filters)
                parts.append((1, fe, shared, _fast_lookup(fe)))
            else:
                parts.append((2, node, False, None))
        self.parts = parts
        self.has_blocks = any(part[0] == 2 for part in parts)

    def render(self, context: Context, resolved: dict[str, Any] | None = None) -> str:
        context.template = self.template
        # Node.render_annotated reads it to put the line on an error (Template.render sets it; we skip that).
        context.render_context.template = self.template
        values = context.dicts[-1]
        if resolved is None:
            resolved = {}
        seen: dict[str, str] = {}
        out: list[str] = []
        append = out.append
        for kind, item, shared, fast in self.parts:
            if kind == 0:
                append(item)
            elif kind == 1:
                token = item.token
                value = seen.get(token)
                if value is None:
                    try:
                        if shared and token in resolved:
                            raw = resolved[token]
                        else:
                            raw = _MISSING
                            if fast is not None:
                                lookups, fallback = fast
                                raw = values.get(lookups[0], _MISSING)
                                for bit in lookups[1:]:
                                    raw = raw.get(bit, _MISSING) if type(raw) is dict else _MISSING
                                if raw is not _MISSING and fallback is not _MISSING:
                                    raw = raw or fallback  # the `default` filter
                            if raw is _MISSING:
                                raw = item.resolve(context)
                            if shared:
                                resolved[token] = raw
                        if type(raw) is str:
                            # The common case, without Django's localisation checks: same output.
                            value = _escape(raw) if context.autoescape else raw
                        else:
                            value = render_value_in_context(raw, context)
                    except UnicodeDecodeError:
                        value = ""
                    seen[token] = value
                append(value)
            else:
                append(item.render_annotated(context))
                if not isinstance(item, _PURE_NODES):
                    # cycle/firstof/regroup/now/widthratio "as x" set variables: resolve again after them.
                    seen.clear()
                    resolved.clear()
        return "".join(out)


def _plain_lookup(fe: Any) -> tuple[str, tuple[str, ...], tuple[tuple[Any, tuple[Any, ...], bool], ...]] | None:
    """For `{{ a.b|filter:"constant"|... }}`: the dict keys to follow and the filters with their arguments ready.

    None (Django resolves it) for a translated or literal value, a list index, an argument that is a variable, or
    a filter that depends on autoescaping or the time zone (`needs_autoescape`, `expects_localtime`).
    """
    from django.template.base import Variable

    var = fe.var
    if not isinstance(var, Variable) or not var.lookups or var.translate or var.message_context:
        return None
    if not all(bit.isidentifier() for bit in var.lookups):
        return None
    filters = []
    for func, args in fe.filters:
        if any(lookup for lookup, _arg in args):
            return None
        if getattr(func, "needs_autoescape", False) or getattr(func, "expects_localtime", False):
            return None
        # FilterExpression.resolve marks constant arguments safe on every call; the result is the same each time.
        filters.append((func, tuple(mark_safe(arg) for _lookup, arg in args), bool(getattr(func, "is_safe", False))))
    return var.lookups[0], var.lookups[1:], tuple(filters)


class PlainMessage:
    """Subject, HTML and text made only of text and `{{ ... }}` (no block tags): the common newsletter, rendered
    with one `str.format` per part instead of a walk over template nodes. Output is the same as Django's.

    Each distinct expression is resolved once per recipient for all three parts. A variable is found by following
    plain dict keys, and its filters are applied exactly as `FilterExpression.resolve` applies them (same calls,
    same safe-string rules). Anything else (a missing key, a list index, a filter with a variable argument or one
    that depends on autoescaping) is resolved by Django's own `FilterExpression.resolve` on a Context made only
    then. The value becomes text as `VariableNode` makes it: a plain `str` is HTML-escaped in the HTML part,
    anything else goes through `render_value_in_context` (SafeString, numbers, dates, None).
    """

    __slots__ = ("expressions", "formats", "template")

    @classmethod
    def build(cls, templates: tuple[Template | None, ...]) -> PlainMessage | None:
        """None when a part has a block tag (`{% if %}`, `{% for %}` ...): those render through FastTemplate."""
        for template in templates:
            if template is not None and not all(isinstance(n, TextNode | VariableNode) for n in template.nodelist):
                return None
        return cls(templates)

    def __init__(self, templates: tuple[Template | None, ...]) -> None:
        self.template = next(t for t in templates if t is not None)  # the engine: string_if_invalid and filters
        index: dict[str, int] = {}
        # Per distinct expression: the FilterExpression and its plain lookup (None: Django resolves it).
        self.expressions: list[tuple[Any, Any]] = []
        # Per part: a format string ("text{0}text{1}text{0}") and the expression numbers that fill its fields.
        self.formats: list[tuple[str, tuple[int, ...]] | None] = []
        for template in templates:
            if template is None:
                self.formats.append(None)
                continue
            pieces: list[str] = []
            used: list[int] = []
            for node in template.nodelist:
                if isinstance(node, TextNode):
                    pieces.append(node.s.replace("{", "{{").replace("}", "}}"))
                    continue
                assert isinstance(node, VariableNode)  # build() let nothing else through
                fe = node.filter_expression
                number = index.get(fe.token)
                if number is None:
                    number = index[fe.token] = len(self.expressions)
                    self.expressions.append((fe, _plain_lookup(fe)))
                if number not in used:
                    used.append(number)
                # A repeated variable repeats its field: its value is made into text once per part.
                pieces.append(f"{{{used.index(number)}}}")
            self.formats.append(("".join(pieces), tuple(used)))

    def _context(self, values: dict[str, Any], autoescape: bool) -> Context:
        context = Context(values, autoescape=autoescape)
        context.template = self.template
        return context

    def render(self, values: dict[str, Any]) -> tuple[str, str, str]:
        """The three parts (subject, HTML, text) given to `build`; "" for a missing part."""
        raws: list[Any] = []
        for _fe, plain in self.expressions:
            raw: Any = _MISSING
            if plain is not None:
                first, rest, filters = plain
                raw = values.get(first, _MISSING)
                for bit in rest:
                    raw = raw.get(bit, _MISSING) if type(raw) is dict else _MISSING
                if raw is not _MISSING:
                    for func, constants, is_safe in filters:
                        value = func(raw, *constants)
                        raw = mark_safe(value) if is_safe and isinstance(raw, SafeData) else value
            raws.append(raw)
        out: list[str] = []
        for autoescape, part in zip((False, True, False), self.formats, strict=True):
            if part is None:
                out.append("")
                continue
            fmt, used = part
            context: Context | None = None
            fields: list[str] = []
            for number in used:
                raw = raws[number]
                if type(raw) is str:
                    fields.append(_escape(raw) if autoescape else raw)
                    continue
                if context is None:
                    context = self._context(values, autoescape)
                if raw is _MISSING:
                    try:
                        raw = self.expressions[number][0].resolve(context)
                    except UnicodeDecodeError:  # as VariableNode.render
                        raw = ""
                fields.append(render_value_in_context(raw, context))
            out.append(fmt.format(*fields))
        return out[0], out[1], out[2]


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
        token = _budget.set(_Budget(deadline=until, limit=what, max_chars=limit))
        try:
            rendered = self._render(context)
        except TemplateError:
            raise
        except _RENDER_FAULTS as exc:
            debug = getattr(exc, "template_debug", None)
            line = debug.get("line") if isinstance(debug, dict) else None
            raise RenderError(f"Rendering failed: {exc}", line=line, source="template") from exc
        finally:
            _budget.reset(token)
        parts = (rendered.subject, rendered.html, rendered.text)
        size = sum(map(len, parts))
        if size * 4 > limit:  # UTF-8 takes at most 4 bytes a character: only a large message is encoded to count
            size = sum(len(part.encode()) for part in parts)
        if size > limit:
            raise RenderLimitExceeded(_too_large_message(limit))
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


_BLANK_LINES = re.compile(r"\n\n\n+")


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


# --- compiling ----------------------------------------------------------------------------------------------


def _template(source: str, *, kind: str) -> Template:
    try:
        return _engine.from_string(source)
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
    return _template(source, kind=kind)


def compile_mjml(source: str) -> str:
    """MJML to HTML. Raises TemplateError with the line of the fault (as near as it can be found)."""
    from mjml import mjml2html

    try:
        return str(mjml2html(source, disable_comments=True))
    except (ValueError, RuntimeError) as exc:
        message = str(exc)
        line, hint = _locate_mjml_error(source, message)
        text = f"MJML does not compile: {message}."
        if hint:
            text += f" {hint}"
        raise TemplateError(text, line=line, source="mjml") from exc


def compile_message(*, subject: str, body_text: str = "", body_html: str = "", body_mjml: str = "") -> CompiledMessage:
    """Compile content once. Plain `body_text` alone (seed 000's scenario content) sends a text-only email;
    HTML (given, or compiled from `body_mjml`) gets a text part derived from it unless `body_text` is given.

    Raises TemplateError (a ValueError) with the line of the fault.
    """
    subject_tpl = _template(subject or "", kind="subject")
    if body_mjml:
        check_template_syntax(body_mjml, kind="template")  # line numbers in the user's MJML, not in its output
        body_html = compile_mjml(body_mjml)
    html_tpl = _template(body_html, kind="template") if body_html else None
    text_tpl: Template | None = None
    from_rendered = False
    if body_text:
        text_tpl = _template(body_text, kind="template")
    elif body_html:
        try:
            text_tpl = _engine.from_string(html_source_to_text_template(body_html))
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
    return dataclasses.replace(compiled, subject=_template(subject, kind="subject"))


# --- MJML error lines ---------------------------------------------------------------------------------------

_POSITION = re.compile(r"position (\d+)(?::(\d+))?")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _line_of_offset(source: str, offset: int) -> int:
    data = source.encode()
    return data[: max(0, min(offset, len(data)))].count(b"\n") + 1


class _TagBalance(HTMLParser):
    """Finds the first tag that is closed without being opened, closed out of order, or never closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int]] = []
        self.problem: tuple[int, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return

    def handle_endtag(self, tag: str) -> None:
        if self.problem or tag in _VOID:
            return
        line = self.getpos()[0]
        if not self.stack:
            self.problem = (line, f"</{tag}> closes a tag that was never opened.")
            return
        open_tag, open_line = self.stack[-1]
        if open_tag == tag:
            self.stack.pop()
            return
        if any(t == tag for t, _ in self.stack):
            self.problem = (open_line, f"<{open_tag}> opened on line {open_line} is not closed before </{tag}>.")
        else:
            self.problem = (line, f"</{tag}> does not match the open <{open_tag}> (line {open_line}).")


def _locate_mjml_error(source: str, message: str) -> tuple[int | None, str]:
    scanner = _TagBalance()
    try:
        scanner.feed(source)
        scanner.close()
    except Exception:  # the scanner only helps locate the error; its own failure must not mask it
        scanner.problem = scanner.problem or None
    if scanner.problem:
        return scanner.problem
    if scanner.stack:
        tag, line = scanner.stack[-1]
        return line, f"<{tag}> opened on line {line} is never closed."
    match = _POSITION.search(message)
    if match:
        return _line_of_offset(source, int(match.group(1))), ""
    stripped = source.lstrip()
    if not stripped.startswith("<mjml"):
        return 1, "An MJML document starts with <mjml>."
    return None, ""


# --- HTML to text -------------------------------------------------------------------------------------------

_TAG_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_MARK = "\ue000{}\ue001"
_MARK_RE = re.compile("\ue000(\\d+)\ue001")
_BLOCK = {
    "address",
    "article",
    "blockquote",
    "center",
    "div",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "ol",
    "p",
    "section",
    "table",
    "tr",
    "ul",
}
_SKIP = {"head", "style", "script", "title", "noscript", "template"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table") else "\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag == "td":
            self.parts.append(" ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href, len(self.parts)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIP:
            self.skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = " ".join("".join(self.parts[start:]).split())
            if href and not href.startswith(("#", "mailto:")) and href != label:
                self.parts.append(f" ({href})" if label else href)
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table") else "\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _tidy_text(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + ("\n" if out else "")


def html_to_text(html: str) -> str:
    """A readable plain-text version of an email's HTML: paragraphs, list items and `label (url)` links."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return _tidy_text("".join(parser.parts))


def html_source_to_text_template(html_source: str) -> str:
    """The text version of an HTML *template*, with its `{{ }}` / `{% %}` tags kept where they stood."""
    tags: list[str] = []

    def stash(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return _MARK.format(len(tags) - 1)

    marked = _TAG_RE.sub(stash, html_source)
    text = html_to_text(marked)
    # Entities were decoded by the parser; text output is rendered without autoescape.
    return _MARK_RE.sub(lambda m: tags[int(m.group(1))], text)


def html_size_bytes(html: str) -> int:
    return len(html.encode())


__all__ = [
    "GMAIL_CLIP_BYTES",
    "CompiledMessage",
    "RenderError",
    "RenderLimitExceeded",
    "RenderedEmail",
    "TemplateError",
    "check_template_syntax",
    "compile_message",
    "compile_mjml",
    "compile_template",
    "contact_context",
    "html_to_text",
    "personalisation_context",
    "with_subject",
]


# --- which variables a template uses (for the pre-send check) ----------------------------------------------


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

    template = _template(source, kind="template")
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
