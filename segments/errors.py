"""Errors a segment definition can raise; each carries a message fit to show to the user."""

from __future__ import annotations


class SegmentError(ValueError):
    """The segment cannot be evaluated as defined (bad rules, unknown function, rejected SQL)."""


class RuleError(SegmentError):
    """The rules JSON is not valid; the message names the condition (`conditions[1].conditions[0]`)."""


class SqlSegmentError(SegmentError):
    """The SQL was rejected (not one read-only SELECT of contact ids) or failed when run."""
