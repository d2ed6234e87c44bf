"""Reads of the send engine: progress of a Send, outbox listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from contacts.models import Contact
from delivery.models import Delivery, OutboxMessage, Send
from delivery.tokens import UNSUBSCRIBE_SALT, token_read


@dataclass(frozen=True)
class SendProgress:
    total: int
    sent: int
    failed: int
    queued: int
    cancelled: int
    rate_per_s: float
    eta_seconds: float | None
    status: str
    reason: str
    # The rest of a two-part snapshot is still being written: `total` counts only the recipients written so far
    # (pages say "preparing recipients"), `percent` is 0 and there is no ETA.
    snapshotting: bool = False

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.cancelled

    @property
    def percent(self) -> float:
        if self.snapshotting:
            return 0.0
        return 100.0 * self.done / self.total if self.total else 100.0


def duration_text(seconds: float) -> str:
    """A remaining time as people read it on a progress bar: "42 s", "3 min 05 s", "1 h 07 min"."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {whole:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def send_progress(*, send_id: int) -> SendProgress:
    """From the Send's counters (kept in step with the rows by each page's transaction): O(1) at any audience size."""
    # Not the rest's SQL itself (a SQL segment's can be megabytes): whether there is one.
    send = (
        Send.objects.annotate(snapshotting=ExpressionWrapper(~Q(snapshot_rest_sql=""), output_field=BooleanField()))
        .defer("snapshot_rest_sql")
        .get(pk=send_id)
    )
    queued = max(0, send.total - send.sent - send.failed - send.cancelled)
    rate = 0.0
    if send.started_at is not None:
        end = send.finished_at if send.status in (Send.Status.DONE, Send.Status.CANCELLED) else timezone.now()
        elapsed = (end or timezone.now()) - send.started_at
        seconds = elapsed.total_seconds()
        if seconds > 0:
            rate = (send.sent + send.failed) / seconds
    snapshotting = bool(send.snapshotting)
    eta = None
    if snapshotting:
        eta = None
    elif queued == 0:
        eta = 0.0
    elif rate > 0 and send.status == Send.Status.SENDING:
        eta = queued / rate
    return SendProgress(
        total=send.total,
        sent=send.sent,
        failed=send.failed,
        queued=queued,
        cancelled=send.cancelled,
        rate_per_s=round(rate, 2),
        eta_seconds=None if eta is None else round(eta, 1),
        status=send.status,
        reason=send.status_reason,
        snapshotting=snapshotting,
    )


def unsubscribe_token_done(*, token: str) -> bool:
    """Whether the contact a (valid) unsubscribe token names is already unsubscribed."""
    data = token_read(token=token, salt=UNSUBSCRIBE_SALT)
    if data is None:
        return False
    return Contact.objects.filter(pk=data.contact_id, status=Contact.Status.UNSUBSCRIBED).exists()


def outbox_messages(*, search: str = "") -> QuerySet[OutboxMessage]:
    messages = OutboxMessage.objects.order_by("-id")
    if search:
        messages = messages.filter(Q(to__icontains=search) | Q(subject__icontains=search))
    return messages


@dataclass(frozen=True)
class RenderedDelivery:
    contact_id: int
    subject: str
    html: str
    text: str


def delivery_rendered(*, delivery_id: int) -> RenderedDelivery | None:
    """One recipient's email rendered again, as it was sent (for the view-in-browser link)."""
    from delivery.compose import Recipient, compose_page

    row = (
        Delivery.objects.filter(pk=delivery_id)
        .select_related("send", "contact")
        .only(
            "id",
            "email",
            "contact__id",
            "contact__first_name",
            "contact__last_name",
            "contact__mobile",
            "contact__lms_lead_id",
            "send",
        )
        .first()
    )
    if row is None:
        return None
    contact = row.contact
    recipient = Recipient(
        delivery_id=row.pk,
        contact_id=contact.pk,
        email=row.email,
        first_name=contact.first_name,
        last_name=contact.last_name,
        mobile=contact.mobile,
        lms_lead_id=contact.lms_lead_id,
    )
    email = compose_page(send=row.send, recipients=[recipient])[0]
    return RenderedDelivery(contact_id=contact.pk, subject=email.subject, html=email.html, text=email.text)


def sends_stalled(*, older_than: datetime) -> QuerySet[Send]:
    """Sends still `sending` whose last page committed before `older_than`: what the watchdog should have re-driven
    (the status page shows them; a number that stays above 0 means no worker is taking pages)."""
    return Send.objects.filter(status=Send.Status.SENDING, last_progress_at__lt=older_than).order_by("pk")


@dataclass(frozen=True)
class TrackingBacklog:
    spool_files: int
    spool_unshipped_bytes: int
    spool_orphans: int  # files of processes that are gone: a live web process's shipper takes them within seconds
    buffered: int | None  # hits in the Redis buffer waiting for the flush; None: no Redis, or it did not answer


def tracking_backlog() -> TrackingBacklog:
    """Opens and clicks recorded but not stored yet: this host's spool directory and the Redis buffer."""
    import redis

    from delivery.services.tracking import buffer_client, tracking_buffer_length
    from delivery.services.tracking_spool import spool_backlog

    spool = spool_backlog()
    buffered: int | None = None
    if buffer_client() is not None:
        try:
            buffered = tracking_buffer_length()
        except redis.RedisError:
            buffered = None
    return TrackingBacklog(spool.files, spool.unshipped_bytes, spool.orphans, buffered)
