"""Condition types other apps add to the rules, read from the `SEGMENT_RULE_CONDITIONS` settings hook list.

segments sits below delivery in the layers, so it cannot know about emails sent, opened or bounced. An app above it
publishes a `ConditionType` (a module-level object named by a dotted path in settings): the JSON key its
conditions use (`{"engagement": {...}}`), how they compile to SQL over contacts, how they read in words, and the
fields the rules builder shows. The compiler, `describe_rules`, the API's validation and the builder's vocabulary
all go through this registry, so an added type behaves like a built-in one everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class BuilderField:
    """One input of the condition's row in the rules builder (static/segments/rules_builder.js)."""

    name: str
    kind: str  # "choice" (a select of `choices`) or "days" (a whole number, blank = any time)
    label: str = ""
    suffix: str = ""
    placeholder: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    # For "days": the kinds (values of the field named `when_field`) that take it; empty = all.
    when_field: str = ""
    when_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConditionSql:
    """A compiled condition: the Q over Contact, and for a positive condition on another table the uncorrelated
    query of the contact ids it selects (`contact_id` values), which OR groups turn into one UNION."""

    q: Q
    rows: QuerySet | None = None


class ConditionType(Protocol):
    key: str
    label: str
    fields: tuple[BuilderField, ...]

    def default(self) -> dict[str, Any]:
        """The spec a new condition of this type starts with in the builder."""
        ...

    def compile(self, spec: Any, *, path: str, vendor: str) -> ConditionSql:
        """Raise segments.errors.RuleError naming `path` when the spec is not valid."""
        ...

    def describe(self, spec: Any) -> str: ...


@cache
def condition_types() -> dict[str, ConditionType]:
    """The registered types by JSON key (read once per process; tests clear the cache after changing settings)."""
    types: dict[str, ConditionType] = {}
    for dotted in getattr(settings, "SEGMENT_RULE_CONDITIONS", []):
        condition_type: ConditionType = import_string(dotted)
        types[condition_type.key] = condition_type
    return types


def condition_type_of(node: dict[str, Any]) -> ConditionType | None:
    for key, condition_type in condition_types().items():
        if key in node:
            return condition_type
    return None


def builder_vocabulary() -> list[dict[str, Any]]:
    """What the rules builder needs to draw and create conditions of each registered type."""
    return [
        {
            "key": t.key,
            "label": t.label,
            "default": t.default(),
            "fields": [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "label": f.label,
                    "suffix": f.suffix,
                    "placeholder": f.placeholder,
                    "choices": [list(c) for c in f.choices],
                    "when_field": f.when_field,
                    "when_values": list(f.when_values),
                }
                for f in t.fields
            ],
        }
        for t in condition_types().values()
    ]


__all__ = [
    "BuilderField",
    "ConditionSql",
    "ConditionType",
    "builder_vocabulary",
    "condition_type_of",
    "condition_types",
]
