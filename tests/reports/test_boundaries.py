"""STYLE 2: the reports app reads campaigns and automations through their selectors, not their models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

ALLOWED = {"campaigns.report_selectors", "campaigns.selectors", "automations.report_selectors"}


def _imported(module: str) -> set[str]:
    """Every module a file imports from (`from campaigns import x` names `campaigns.x`)."""
    names = set()
    for node in ast.walk(ast.parse(Path(settings.BASE_DIR, module).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            package = "." not in node.module
            names |= {f"{node.module}.{a.name}" for a in node.names} if package else {node.module}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


@pytest.mark.parametrize("module", ["reports/owners.py", "reports/targets.py", "reports/goals.py"])
def test_report_owners_targets_and_goals_read_campaigns_and_automations_through_selectors(module: str) -> None:
    reads = {name for name in _imported(module) if name.split(".")[0] in {"campaigns", "automations"}}
    assert reads and reads <= ALLOWED
