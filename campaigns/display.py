"""How campaign words read on screen: subjects are templates, titles and breadcrumbs are not."""

from __future__ import annotations

import re

_VARIABLE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
_TAG = re.compile(r"\{%.*?%\}", re.S)
_SPACES = re.compile(r"\s+")


def _placeholder(match: re.Match[str]) -> str:
    # `{{ contact.first_name|default:"there" }}` reads as «first name»: the last part of the name, no filters.
    name = match.group(1).split("|", 1)[0].strip().rsplit(".", 1)[-1]
    return f"«{name.replace('_', ' ')}»" if name else ""


def subject_label(subject: str) -> str:
    """A subject with its template syntax made readable: `Hi {{ first_name }}!` → `Hi «first name»!`.

    For page titles, breadcrumbs, lists and notifications; the subject itself (what is sent) is unchanged.
    """
    text = _VARIABLE.sub(_placeholder, _TAG.sub("", subject or ""))
    return _SPACES.sub(" ", text).strip() or (subject or "").strip()
