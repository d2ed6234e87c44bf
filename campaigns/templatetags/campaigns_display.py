from __future__ import annotations

from django import template

from campaigns.display import subject_label as _subject_label

register = template.Library()


@register.filter
def subject_label(value: object) -> str:
    """`{{ scenario.subject|subject_label }}`: the subject with `{{ first_name }}` shown as «first name»."""
    return _subject_label(str(value or ""))
