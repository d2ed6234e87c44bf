"""SMTP through Django's backend: one connection per page, one message at a time so errors map to rows."""

from __future__ import annotations

import contextlib
import smtplib

from django.core.mail import EmailMultiAlternatives, get_connection

from delivery.transports import OutgoingEmail, SendResult, TransientError


class SmtpTransport:
    name = "smtp"
    # SMTP has no idempotency: a crash between the server's accept and our commit can resend that one message.
    idempotent = False
    derives_text_part = False

    def send_batch(self, emails: list[OutgoingEmail], *, idempotency_key: str) -> list[SendResult]:
        connection = get_connection("django.core.mail.backends.smtp.EmailBackend", fail_silently=False)
        try:
            connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"SMTP connection failed: {exc}") from exc
        results: list[SendResult] = []
        try:
            for e in emails:
                message = EmailMultiAlternatives(
                    subject=e.subject,
                    body=e.text,
                    from_email=e.from_email,
                    to=[e.to],
                    headers=e.headers,
                    connection=connection,
                )
                if e.html:
                    message.attach_alternative(e.html, "text/html")
                try:
                    message.send()
                    results.append(SendResult(provider_message_id=message.extra_headers.get("Message-ID", "smtp")))
                except smtplib.SMTPRecipientsRefused as exc:
                    results.append(SendResult(error=f"Recipient refused: {exc.recipients}"[:500]))
                except smtplib.SMTPResponseException as exc:
                    if 500 <= exc.smtp_code < 600:
                        results.append(SendResult(error=f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:500]))
                    else:
                        results.append(SendResult(error=f"SMTP {exc.smtp_code}", retry=True))
                except (OSError, smtplib.SMTPException) as exc:
                    # The connection broke: what was accepted stays sent, the rest of the page is retried.
                    results.append(SendResult(error=str(exc)[:500], retry=True))
                    results.extend(SendResult(error="not attempted", retry=True) for _ in emails[len(results) :])
                    break
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                connection.close()
        return results
