from __future__ import annotations

from django.conf import settings
from django.db import models


class Segment(models.Model):
    """A named audience. `segments.selectors.segment_contact_ids` turns any type into a contact-id query."""

    class Type(models.TextChoices):
        MANUAL = "manual", "Manual list"
        RULES = "rules", "Rules"
        SQL = "sql", "SQL"
        FUNCTION = "function", "Function"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.RULES)
    rules = models.JSONField(default=dict, blank=True)
    selection_sql = models.TextField(blank=True)
    handler_function = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "contact"], name="segment_member_uniq")]

    def __str__(self) -> str:
        return f"{self.contact_id} in segment {self.segment_id}"
