"""The rules tree as human-readable lines (the segment's detail page)."""

from __future__ import annotations

from typing import Any

from segments.rules.extensions import condition_type_of
from segments.rules.vocabulary import NO_VALUE_OPERATORS, OPERATOR_LABELS


def describe_rules(rules: Any) -> list[str]:
    """Human-readable lines for the detail page (one per condition, indented by group depth)."""
    lines: list[str] = []

    def walk(node: Any, depth: int) -> None:
        pad = "  " * depth
        neg = "NOT " if isinstance(node, dict) and node.get("negate") else ""
        if not isinstance(node, dict):
            return
        if "conditions" in node or "op" in node:
            lines.append(f"{pad}{neg}{str(node.get('op', 'and')).upper()} of:")
            for child in node.get("conditions") or []:
                walk(child, depth + 1)
            return
        op = OPERATOR_LABELS.get(str(node.get("operator")), str(node.get("operator")))
        value = "" if node.get("operator") in NO_VALUE_OPERATORS else f" {node.get('value')!r}"
        if "field" in node:
            lines.append(f"{pad}{neg}{node['field']} {op}{value}")
        elif "attribute" in node:
            lines.append(f"{pad}{neg}attribute {node['attribute']} ({node.get('type', 'string')}) {op}{value}")
        elif "event" in node and isinstance(node["event"], dict):
            ev = node["event"]
            text = f"moved to stage {ev.get('to_stage')!r}"
            if ev.get("from_stage"):
                text += f" from {ev['from_stage']!r}"
            if ev.get("funnel_type"):
                text += f" in the {ev['funnel_type']} funnel"
            if ev.get("within_days") not in (None, ""):
                text += f" within the last {ev['within_days']} days"
            lines.append(f"{pad}{neg}{text}")
        elif "batch" in node:
            lines.append(f"{pad}{neg}member of batch {node['batch']}")
        elif (extension := condition_type_of(node)) is not None:
            lines.append(f"{pad}{neg}{extension.describe(node[extension.key])}")

    walk(rules or {}, 0)
    return lines
