"""The per-recipient renderers behind `CompiledMessage.render`, each with the same output as Django's render.

Content made only of text and `{{ ... }}` (most newsletters) renders through `PlainMessage` (one `str.format` per
part); content with block tags through `FastTemplate` (Django's nodes, with each variable resolved once).
"""

from __future__ import annotations

from html import escape as _escape
from typing import Any, NamedTuple

from django.template import Context, Template, defaultfilters, defaulttags
from django.template.base import TextNode, VariableNode, render_value_in_context
from django.utils.safestring import SafeData, mark_safe

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


class _Part(NamedTuple):
    kind: int  # 0 static text, 1 a `{{ variable }}`, 2 a block tag rendered by Django
    item: Any  # the text, the FilterExpression or the Node
    shared: bool  # a variable that resolves the same in the subject, HTML and text
    fast: Any  # _fast_lookup's result for a variable (None: Django resolves it)


class FastTemplate:
    """A compiled Template rendered faster per recipient, with the same output as `Template.render`.

    The top-level nodes are flattened once: static text stays a string, and each distinct `{{ variable|filters }}`
    is resolved once per render however often it appears (a newsletter repeats `first_name` and links).
    Block tags (`{% if %}`, `{% for %}` ...) render through Django as usual.
    """

    __slots__ = ("has_blocks", "parts", "template")

    def __init__(self, template: Template) -> None:
        self.template = template
        parts: list[_Part] = []
        for node in template.nodelist:
            if isinstance(node, TextNode):
                if parts and parts[-1].kind == 0:
                    parts[-1] = _Part(0, parts[-1].item + node.s, False, None)
                else:
                    parts.append(_Part(0, node.s, False, None))
            elif isinstance(node, VariableNode):
                fe = node.filter_expression
                # A value whose filters ignore autoescaping resolves the same for the subject, HTML and text:
                # resolved once per recipient and shared between the three templates.
                shared = not any(getattr(func, "needs_autoescape", False) for func, _args in fe.filters)
                parts.append(_Part(1, fe, shared, _fast_lookup(fe)))
            else:
                parts.append(_Part(2, node, False, None))
        self.parts = parts
        self.has_blocks = any(part.kind == 2 for part in parts)

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
