"""What a merge of staged rows counts (see the counting rule in `contacts.importing.merge`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MergeResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    # line -> (outcome, contact id); only filled when asked for (the API's per-item result).
    outcomes: dict[int, tuple[str, int | None]] = field(default_factory=dict)
