"""The send engine: snapshot an audience into Delivery rows, send them page by page, exactly once.

The package: `snapshot` (send_create, send_start, send_snapshot_rest), `window` (pages in the broker), `pages`
(page_send) with `claim` and `prepared` (its SQL), `lifecycle` (pause, resume, fail, cancel, retry, finish,
watchdog), `notices` (events written with their change, published on commit, redelivered by the tick), `edges`
(unsubscribe link, test sender), `webhooks` (Resend's events). Every public name is importable from
`delivery.services`.

Why every recipient gets exactly one email, even when workers are SIGKILLed at any moment
-----------------------------------------------------------------------------------------
1. The Delivery rows are the truth. `send_start` writes them once (one `INSERT ... SELECT ... ON CONFLICT DO
   NOTHING`, behind a conditional `pending -> sending` update), each with its page number. In two parts
   (`DELIVERY_SNAPSHOT_FIRST_ROWS`): the first rows by contact id commit with the `pending -> sending` update;
   the rest (contact ids above the first part's last one, pages numbered after its pages) commit in ONE later
   transaction with the Send's new total and the end of the snapshot (`send_snapshot_rest`, under an advisory
   lock). A crash before that commit leaves exactly the first part, and the rerun (task redelivery, watchdog)
   writes the rest once; the unique (send, contact) index would refuse a duplicate anyway. Until the rest
   commits the Send cannot finish, so a page that commits meanwhile never closes it early.
2. `page_send` does a whole page in ONE database transaction: it takes the page's advisory lock (PostgreSQL; on
   SQLite the IMMEDIATE transaction serialises writers), locks the page's `queued` rows with
   `SELECT ... FOR UPDATE SKIP LOCKED` (on PostgreSQL one statement reads the Send's status, takes the lock and
   claims the rows), renders, waits for the shared rate limiter, makes ONE provider call, marks
   the rows `sent`/`failed` and bumps the Send's counters, then commits. A committed row is never `sending`:
   that state exists only inside the open transaction, so there is no lease to expire and nothing to recover.
3. If the process dies anywhere before the commit, PostgreSQL rolls the transaction back: the rows are `queued`
   again, exactly as before. The page's task message is redelivered (late ack) or re-enqueued by `watchdog`.
4. The provider call carries an Idempotency-Key derived only from (send, page, retry_round, the ids of the rows
   claimed), and the emails render byte-identically on every attempt (tokens carry no timestamp). So the
   replay of a call the provider already accepted before the crash is answered from the provider's idempotency
   store instead of being sent again. The only crash window that could duplicate is a crash after the provider
   accepted AND more than 24 hours (Resend's key retention) before the retry; the watchdog retries within minutes.
5. Because the whole page is claimed under one lock, the set of ids (and so the key) of a retried page is the set
   of the attempt that crashed: rows are only removed from `queued` by a committed page, a cancel, or a retry
   round (which changes `retry_round` and so the key on purpose, since those rows failed and were not sent).
   A contact who unsubscribes (or is edited) between a crashed attempt and its retry changes the page's payload
   but not its key; the provider then refuses the changed payload (409) and the page is marked failed with that
   reason instead of being sent a second time.
The `outbox` transport writes its rows inside the same transaction, so it is exactly-once by construction; SMTP
has no idempotency, so with `smtp` a crash between the server's accept and our commit can resend one page.
"""

from __future__ import annotations

from delivery.services.edges import template_test_sender, unsubscribe_by_token
from delivery.services.lifecycle import (
    contact_deleting,
    send_cancel,
    send_fail,
    send_finish_if_complete,
    send_pause,
    send_resume,
    send_retry_failed,
    watchdog,
)
from delivery.services.notices import notices_redeliver
from delivery.services.pages import PageOutcome, idempotency_key, page_send
from delivery.services.snapshot import send_create, send_snapshot_rest, send_start
from delivery.services.webhooks import (
    WebhookBadPayload,
    WebhookNotConfigured,
    WebhookRejected,
    webhook_event_receive,
)
from delivery.services.window import window_pages

__all__ = [
    "PageOutcome",
    "WebhookBadPayload",
    "WebhookNotConfigured",
    "WebhookRejected",
    "contact_deleting",
    "idempotency_key",
    "notices_redeliver",
    "page_send",
    "send_cancel",
    "send_create",
    "send_fail",
    "send_finish_if_complete",
    "send_pause",
    "send_resume",
    "send_retry_failed",
    "send_snapshot_rest",
    "send_start",
    "template_test_sender",
    "unsubscribe_by_token",
    "watchdog",
    "webhook_event_receive",
    "window_pages",
]
