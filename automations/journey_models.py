"""Journeys (seed 001, issue 16): drip sequences a contact enters when it does something, waits, branches and
leaves on a goal. Models only; the engine is `automations.journeys`.

An Enrollment rests on a step (`step_key`) in a numbered visit (`visit`, +1 at every step it moves to); the
history row EnrollmentStep is unique per (enrollment, step_key, visit), so a step runs at most once per visit
whatever claims the enrollment twice: that INSERT, not a check before it, is what makes a send exactly once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


def _default_timezone() -> str:
    return str(settings.TIME_ZONE)


class Journey(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ARCHIVED = "archived", "Archived"

    class Reentry(models.TextChoices):
        ONCE = "once", "Once ever"
        AFTER_EXIT = "after_exit", "Again after leaving"
        NEVER_WHILE_ACTIVE = "never_while_active", "Never while active"

    class ResumeMode(models.TextChoices):
        SEND_LATE = "send_late", "Send what fell due, late"
        SKIP_TO_WAIT = "skip_to_wait", "Skip to the next wait"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # ARCHITECTURE §5: {"type": "api"} | {"type": "event", "to_stage": ...} | {"type": "contact_created"}
    # | {"type": "batch", "batch": id} | {"type": "segment", "segment": id}
    trigger = models.JSONField(default=dict)
    # null | {"type": "event", "to_stage": ...} | {"type": "segment", "segment": id}
    goal = models.JSONField(null=True, blank=True)
    reentry = models.CharField(max_length=20, choices=Reentry.choices, default=Reentry.ONCE)
    timezone = models.CharField(max_length=64, default=_default_timezone)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # What a resume does with the sends that fell due during the pause (automations.journey_engine).
    resume_mode = models.CharField(max_length=12, choices=ResumeMode.choices, default=ResumeMode.SEND_LATE)
    # Open pixel / click redirects in this journey's emails (docs/tracking.md); copied into each step's Send.
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    # The last check of a segment trigger (claimed by a conditional update, so two ticks enqueue one check).
    segment_checked_at = models.DateTimeField(null=True, blank=True)
    # When the remembered members were first taken (null: the next check is the first, which enrolls nobody
    # unless the trigger says "existing": true).
    segment_seeded_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def trigger_type(self) -> str:
        return str((self.trigger or {}).get("type", ""))


class JourneyStep(models.Model):
    class Type(models.TextChoices):
        SEND = "send", "Send"
        WAIT = "wait", "Wait"
        WAIT_UNTIL = "wait_until", "Wait until"
        BRANCH = "branch", "Branch"
        EXIT = "exit", "Exit"

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=40)
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=10, choices=Type.choices)
    # PROTECT: a template a journey sends cannot vanish under contacts waiting for it.
    template = models.ForeignKey(
        "templates_app.MessageTemplate", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    minutes = models.IntegerField(null=True, blank=True)
    time = models.TimeField(null=True, blank=True)
    weekdays = models.JSONField(default=list, blank=True)  # ISO weekdays, 1 = Monday; empty = every day
    condition = models.JSONField(null=True, blank=True)
    yes_key = models.CharField(max_length=40, blank=True)
    no_key = models.CharField(max_length=40, blank=True)
    next_key = models.CharField(max_length=40, blank=True)  # empty: the following step

    class Meta:
        ordering = ["journey", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["journey", "key"], name="journey_step_key_uniq")]

    def __str__(self) -> str:
        return f"{self.key} ({self.type})"


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        EXITED_GOAL = "exited_goal", "Exited: goal reached"
        EXITED_UNSUBSCRIBED = "exited_unsubscribed", "Exited: unsubscribed"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    # No single-column FK indexes (db_index=False): journey_id leads enrollment_journey_step and contact_id has
    # enrollment_contact; each extra index was one more entry written per row on every step a contact takes.
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments", db_index=False)
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="journey_enrollments", db_index=False
    )
    step_key = models.CharField(max_length=40, blank=True)
    visit = models.PositiveIntegerField(default=1)
    # The current step already ran in this visit: for a wait, the contact is waiting and the step is over at next_at.
    step_ran = models.BooleanField(default=False)
    next_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    reason = models.CharField(max_length=300, blank=True)
    # What enrolled the contact ("event:<id>", "contact:<id>", "member:<id>"); unique per journey when set, so a
    # trigger delivered twice (two hooks seeing the same new row) enrolls once.
    trigger_key = models.CharField(max_length=60, blank=True)
    entered_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "contact"],
                condition=models.Q(status="active"),
                name="enrollment_one_active_uniq",
            ),
            models.UniqueConstraint(
                fields=["journey", "trigger_key"], condition=~models.Q(trigger_key=""), name="enrollment_trigger_uniq"
            ),
        ]
        indexes = [
            # The tick's question "which active enrollments are due?" reads only active rows, in next_at order:
            # with 10M waiting and none due it is one index probe.
            models.Index(fields=["next_at"], condition=models.Q(status="active"), name="enrollment_due"),
            models.Index(fields=["contact"], name="enrollment_contact"),
            models.Index(fields=["journey", "status", "step_key"], name="enrollment_journey_step"),
        ]

    def __str__(self) -> str:
        return f"{self.journey_id}/{self.contact_id} ({self.status})"


class EnrollmentStep(models.Model):
    class Outcome(models.TextChoices):
        SENT = "sent", "Handed to the engine"
        SUPPRESSED = "suppressed", "Not sent"
        WAITING = "waiting", "Waiting"
        YES = "yes", "Branch: yes"
        NO = "no", "Branch: no"
        EXITED = "exited", "Exited"

    # db_index=False: enrollment_id leads enrollment_step_visit_uniq, send_id has enrollment_step_send (the FK
    # indexes were duplicates, written for every history row). db_constraint=False: only the engine writes these
    # rows, for enrollments it holds locked and Sends it created in the same transaction, and PostgreSQL checked
    # both keys row by row at COMMIT (0.34 s of a 20,000-contact batch's 40,000 rows). Deletes still cascade
    # through the ORM (a journey, an enrollment, a contact's erasure), as for Delivery.contact.
    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.CASCADE, related_name="history", db_index=False, db_constraint=False
    )
    step_key = models.CharField(max_length=40)
    visit = models.PositiveIntegerField()
    ran_at = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    detail = models.CharField(max_length=300, blank=True)
    send = models.ForeignKey(
        "delivery.Send",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        ordering = ["enrollment", "visit"]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step_key", "visit"], name="enrollment_step_visit_uniq")
        ]
        indexes = [models.Index(fields=["send"], name="enrollment_step_send")]

    def __str__(self) -> str:
        return f"{self.enrollment_id}: {self.step_key}#{self.visit} {self.outcome}"


class JourneySegmentMember(models.Model):
    """The members of a segment-triggered journey's segment at its last check: a contact enters the journey when
    it appears here (a new row, whose id is the trigger key) and may enter again only after leaving the segment
    (its row deleted) and coming back."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["journey", "contact"], name="journey_segment_member_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.journey_id}/{self.contact_id}"
