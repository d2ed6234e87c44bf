from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.fields import AttributeValueField, BlindIndexField, EncryptedCharField


class ContactQuerySet(models.QuerySet["Contact"]):
    def subscribed(self) -> ContactQuerySet:
        return self.filter(status=Contact.Status.SUBSCRIBED)


class Contact(models.Model):
    """One customer. The email is stored lower-cased, so uniqueness is case-insensitive by construction."""

    class Status(models.TextChoices):
        SUBSCRIBED = "subscribed", "Subscribed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"

    email = models.CharField(max_length=254, unique=True)
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    # Encrypted at rest (contacts/crypto.py); `mobile_hash` is its blind index, what the import compares.
    mobile = EncryptedCharField(max_length=255, plain_max_length=40, blank=True, default="")
    mobile_hash = BlindIndexField(source="mobile", db_default="")
    lms_lead_id = models.CharField(max_length=100, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBSCRIBED)
    # The ledger entry of the import (or API bulk upsert) that created this contact: one entry per import and
    # action, shared by every contact it created, instead of a ledger row per contact on the import's critical
    # path (contacts.selectors.contact_consent merges it into the contact's ledger). No database-level FK (a
    # per-row check on every insert) and no index (nothing looks contacts up by it); ledger rows are never
    # deleted.
    consent_origin = models.ForeignKey(
        "ConsentRecord",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lms_lead_id"], condition=models.Q(lms_lead_id__isnull=False), name="contact_lms_lead_id_uniq"
            ),
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="contact_email_lower"),
        ]
        # Email prefix search (`email LIKE 'ann%'`) is served by the varchar_pattern_ops index PostgreSQL gets
        # for every unique CharField (`contacts_contact_email_..._like`); name prefixes by 0002's expression indexes.
        indexes = [models.Index(fields=["status", "id"], name="contact_status_id")]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactAttribute(models.Model):
    class FieldType(models.TextChoices):
        NUMERIC = "numeric", "Numeric"
        STRING = "string", "String"
        DATE = "date", "Date"
        TIMESTAMP = "timestamp", "Timestamp"
        BOOLEAN = "boolean", "Boolean"
        ARRAY = "array", "Array"

    # No separate index on contact: the unique (contact, field_name) index leads with it.
    # No database-level FK either (db_constraint=False): an import writes ~3 attribute rows per contact, and the
    # deferred per-row RI checks at COMMIT doubled the attribute write (measured: 1.5 s per 280k rows). Every
    # writer (the import merge, the API) joins on contacts_contact, and Django's ORM cascade still deletes the
    # attributes of a deleted contact.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="attributes", db_index=False, db_constraint=False
    )
    field_name = models.CharField(max_length=100)
    field_type = models.CharField(max_length=10, choices=FieldType.choices)
    # Encrypted when an Admin marked the name sensitive (SensitiveAttribute); reads decrypt.
    field_value = AttributeValueField(null=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["field_name"]
        constraints = [models.UniqueConstraint(fields=["contact", "field_name"], name="contact_attribute_uniq")]
        # Plus, on PostgreSQL, the generated columns value_num / value_text and three partial indexes that hold
        # every row once, by name: numbers, short strings, the rest (migrations 0005 and 0006). SQLite keeps a
        # plain field_name index from migration 0001.

    def __str__(self) -> str:
        return f"{self.field_name}={self.field_value!r}"


class FunnelEvent(models.Model):
    """A move between funnel stages. Insert-only: nothing in Herald updates or deletes one."""

    class FunnelType(models.TextChoices):
        SALES = "sales", "Sales"
        SERVICE_DELIVERY = "service-delivery", "Service delivery"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="funnel_events")
    funnel_type = models.CharField(max_length=20, choices=FunnelType.choices)
    from_stage = models.CharField(max_length=100, blank=True, default="")
    to_stage = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    # What the move was worth (an order's value), in HERALD_CURRENCY; reports sum it over the conversions they
    # credit (revenue). Optional: a stage move without a value stays NULL, never 0.
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gte=0), name="funnel_amount_not_negative"
            )
        ]
        indexes = [
            models.Index(fields=["contact", "created_at"], name="funnel_contact_created"),
            # INCLUDE: "moved to X in the last N days" is an index-only scan (segments/rules.py).
            models.Index(fields=["to_stage", "created_at"], include=["contact"], name="funnel_stage_created_contact"),
            models.Index(fields=["created_at", "id"], name="funnel_created_id"),
        ]

    def __str__(self) -> str:
        return f"{self.funnel_type}: {self.from_stage or '-'} -> {self.to_stage}"


class Batch(models.Model):
    """A named group of contacts: a campaign's audience, or who came from one upload."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        API = "api", "API"
        CAMPAIGN = "campaign", "Campaign"

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    created_at = models.DateTimeField(auto_now_add=True)
    contacts = models.ManyToManyField(Contact, through="BatchMember", related_name="batches")

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.name


class BatchMember(models.Model):
    # No separate index on batch: the unique (batch, contact) index leads with it.
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="members", db_index=False)
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="batch_memberships", db_index=False
    )  # indexed by batch_member_contact below
    import_job = models.ForeignKey("ImportJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "contact"], name="batch_member_uniq")]
        indexes = [models.Index(fields=["contact"], name="batch_member_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} in batch {self.batch_id}"


class ImportJob(models.Model):
    class Kind(models.TextChoices):
        CONTACTS = "contacts", "Contacts"
        EVENTS = "events", "Funnel events"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CONTACTS)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    batch = models.ForeignKey(Batch, on_delete=models.SET_NULL, null=True, blank=True, related_name="import_jobs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_processed = models.PositiveIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_processed = models.PositiveBigIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    error_report = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the files kept past the end of the import were indexed in ImportFileAddress (contacts/import_files.py);
    # until then an erasure reads the upload itself.
    files_indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.original_name})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.bytes_total:
            return 0
        return min(99, int(100 * self.bytes_processed / self.bytes_total))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class ImportFileAddress(models.Model):
    """An address (its keyed hash, `crypto.email_hash`, never the address) that a stored file of an import holds:
    what an erasure looks up to open only the import files that hold its address (contacts/import_files.py)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="+")
    email_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["email_hash", "job"], name="import_file_address_uniq")]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.email_hash[:12]}…"


class ConsentRecord(models.Model):
    """The consent ledger: one row per subscribe, unsubscribe, resubscribe or suppression, written in the same
    transaction as the change; an import's new contacts share one row per action (`Contact.consent_origin`,
    `contact` NULL: contacts.selectors.consent_ledger). Append-only. When the contact is erased its rows stay, keyed by the email's hash
    (`email_hash`) with no contact and no address, as the record that consent was given and withdrawn."""

    class Action(models.TextChoices):
        SUBSCRIBE = "subscribe", "Subscribed"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
        RESUBSCRIBE = "resubscribe", "Resubscribed"
        SUPPRESS = "suppress", "Suppressed"

    class Source(models.TextChoices):
        IMPORT = "import", "Import"
        API = "api", "API"
        LINK = "link", "Unsubscribe link"
        WEBHOOK = "webhook", "Provider webhook"
        ADMIN = "admin", "Dashboard or admin"

    # No database-level FK: the import writes rows in its set-based merge, and the erasure detaches the rows itself
    # (privacy.services). The ORM still nulls it when a contact is deleted. NULL also for an import's entry, which
    # covers every contact whose `consent_origin` it is.
    contact = models.ForeignKey(
        Contact,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consent_records",
        db_index=False,
        db_constraint=False,
    )
    email_hash = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=12, choices=Action.choices)
    source = models.CharField(max_length=8, choices=Source.choices)
    detail = models.CharField(max_length=100, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["contact", "at"], name="consent_contact_at"),
            # Only erased contacts' rows carry a hash: a partial index costs the import nothing.
            models.Index(fields=["email_hash"], name="consent_email_hash", condition=~models.Q(email_hash="")),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.get_source_display()}) at {self.at:%Y-%m-%d %H:%M}"


class Suppression(models.Model):
    """An address no send, import or API call may subscribe again: the HMAC of its normalised email
    (contacts.crypto.email_hash), never the address itself, so it survives the contact's erasure."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Spam complaint"
        ERASED = "erased", "Erased on request"

    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    source = models.CharField(max_length=8, choices=ConsentRecord.Source.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}… ({self.get_reason_display()})"


class SensitiveAttribute(models.Model):
    """An attribute name whose values are stored encrypted (marked by an Admin). Segment rules cannot test it."""

    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


__all__ = [
    "Batch",
    "BatchMember",
    "ConsentRecord",
    "Contact",
    "ContactAttribute",
    "FunnelEvent",
    "ImportJob",
    "SensitiveAttribute",
    "Suppression",
]
