"""What compiling or rendering user-written content raises."""

from __future__ import annotations

from django.template import TemplateSyntaxError


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
RENDER_FAULTS = (
    TypeError,
    ValueError,
    AttributeError,
    LookupError,
    ArithmeticError,
    RecursionError,
    TemplateSyntaxError,
)
