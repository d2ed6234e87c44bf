"""The `smtp` transport through Django's SMTP backend, against a minimal SMTP server in a thread."""

from __future__ import annotations

import email
import socketserver
import threading
from collections.abc import Iterator
from email.message import Message

import pytest

from delivery import services
from delivery.models import Delivery
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db


class _SMTPHandler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        server: _SMTPServer = self.server  # type: ignore[assignment]
        self._say("220 test ESMTP")
        rcpt: list[str] = []
        while line := self.rfile.readline().decode().strip():
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 test")
            elif verb == "MAIL":
                rcpt = []
                self._say("250 ok")
            elif verb == "RCPT":
                address = line.split(":", 1)[1].strip("<> ")
                if "refused" in address:
                    self._say("550 no such user")
                else:
                    rcpt.append(address)
                    self._say("250 ok")
            elif verb == "DATA":
                self._say("354 go ahead")
                data = []
                while (chunk := self.rfile.readline().decode()) != ".\r\n":
                    data.append(chunk)
                server.messages.append((rcpt, email.message_from_string("".join(data))))
                self._say("250 queued")
            elif verb == "RSET":
                self._say("250 ok")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")


class _SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    messages: list[tuple[list[str], Message]]


@pytest.fixture
def smtp_server(settings) -> Iterator[_SMTPServer]:  # type: ignore[no-untyped-def]
    server = _SMTPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EMAIL_TRANSPORT = "smtp"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.server_address[0], server.server_address[1]
    settings.EMAIL_USE_TLS = False
    yield server
    server.shutdown()
    server.server_close()


def test_smtp_transport_sends_each_email_with_the_unsubscribe_headers(smtp_server) -> None:
    contacts = make_contacts(3)
    send = started_send(contacts)

    services.page_send(send_id=send.pk, page=0)

    assert sorted(r[0] for r, _ in smtp_server.messages) == sorted(c.email for c in contacts)
    message = smtp_server.messages[0][1]
    assert message["List-Unsubscribe"].strip().startswith("<http://testserver/u/")  # folded: long header
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert Delivery.objects.filter(send=send, status=Delivery.Status.SENT).count() == 3


def test_smtp_refused_recipient_fails_only_that_row(smtp_server) -> None:
    contacts = make_contacts(2) + make_contacts(1, prefix="refused")
    send = started_send(contacts)

    services.page_send(send_id=send.pk, page=0)

    refused = Delivery.objects.get(send=send, contact=contacts[2])
    assert refused.status == Delivery.Status.FAILED
    assert "refused" in refused.last_error.lower()
    assert Delivery.objects.filter(send=send, status=Delivery.Status.SENT).count() == 2
