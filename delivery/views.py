"""Public link endpoints of every email (unsubscribe, view in browser) and the Outbox pages."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.csp import email_preview
from delivery import selectors, services
from delivery.outbox_copy import staff_copy
from delivery.tokens import UNSUBSCRIBE_SALT, VIEW_SALT, token_read
from delivery.tracking_endpoint import client_ip, tracking_answer
from templates_app.rendering import TemplateError

logger = logging.getLogger("delivery.webhooks")


@csrf_exempt  # the signed token is the credential; RFC 8058 one-click POSTs come from mail providers, not forms
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirm page (link scanners must not unsubscribe anyone); POST unsubscribes, from the page's
    button or as an RFC 8058 one-click POST (`List-Unsubscribe=One-Click` in the body)."""
    if token_read(token=token, salt=UNSUBSCRIBE_SALT) is None:
        return render(request, "delivery/unsubscribe_invalid.html", status=400)
    if request.method == "GET":
        if selectors.unsubscribe_token_done(token=token):
            # A second click on the link: say so instead of asking again.
            return render(request, "delivery/unsubscribe_done.html", {"already": True})
        return render(request, "delivery/unsubscribe_confirm.html", {"token": token})
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    changed = services.unsubscribe_by_token(token=token, ip=client_ip(request.META), one_click=one_click)
    if one_click:
        return HttpResponse("Unsubscribed.", content_type="text/plain")
    return render(request, "delivery/unsubscribe_done.html", {"already": changed is False})


def _tracking(request: HttpRequest, kind: str, token: str) -> HttpResponse:
    """The pixel and the redirect when Django serves them (runserver, tests); gunicorn answers them before
    Django (delivery.tracking_endpoint.TrackingFastPath) with the same function."""
    status, headers, body = tracking_answer(
        kind=kind,
        token=token,
        method=request.method or "GET",
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        ip=client_ip(request.META),
    )
    response = HttpResponse(body, status=status)
    for name, value in headers:
        response[name] = value
    return response


@csrf_exempt  # a GET/HEAD link in an email: no form, no session
def tracking_open(request: HttpRequest, token: str) -> HttpResponse:
    return _tracking(request, "o", token)


@csrf_exempt
def tracking_click(request: HttpRequest, token: str) -> HttpResponse:
    return _tracking(request, "c", token)


@csrf_exempt  # the Svix signature is the credential; Resend posts from its servers, not from a form
@require_POST
def resend_webhook(request: HttpRequest) -> HttpResponse:
    """Resend's delivery, bounce, complaint, open and click events (Svix-signed; no login, no token)."""
    try:
        stored = services.webhook_event_receive(body=request.body, headers=request.headers)
    except services.WebhookNotConfigured as exc:
        return JsonResponse({"detail": str(exc)}, status=503)
    except services.WebhookRejected:
        logger.warning("resend webhook refused: the signature or its timestamp does not verify")
        return JsonResponse({"detail": "The webhook signature does not verify."}, status=401)
    except services.WebhookBadPayload as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse({"stored": stored})


# A message is content a Campaign Manager wrote, served from Herald's own origin (where Admins are logged in).
# `sandbox` without `allow-scripts` gives it a unique opaque origin with no script, forms, popups or plugins: it
# cannot read the session, call the API or act as the reader; `default-src 'none'` lets it load nothing but
# images (anywhere: emails link their images) and its own inline styles. This header is set by the view, so the
# site-wide CSP middleware leaves it alone.
MESSAGE_CSP = "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'none'"


def message_response(body: str, *, content_type: str = "text/html; charset=utf-8", status: int = 200) -> HttpResponse:
    """A response that shows message content (a rendered email) from Herald's origin, sandboxed."""
    response = HttpResponse(body, content_type=content_type, status=status)
    response["Content-Security-Policy"] = MESSAGE_CSP
    response["X-Content-Type-Options"] = "nosniff"
    # The URL carries the reader's token: images the email loads must not receive it as a Referer.
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def view_in_browser(request: HttpRequest, token: str) -> HttpResponse:
    data = token_read(token=token, salt=VIEW_SALT)
    try:
        rendered = None if data is None else selectors.delivery_rendered(delivery_id=data.delivery_id)
    except TemplateError:
        # The send failed on this content (render error or limit); the email was never sent as it would show.
        return message_response(
            "This message can no longer be shown.", content_type="text/plain; charset=utf-8", status=404
        )
    if rendered is None or data is None or rendered.contact_id != data.contact_id:
        return render(request, "delivery/unsubscribe_invalid.html", status=404)
    if rendered.html:
        return message_response(rendered.html)
    return message_response(rendered.text, content_type="text/plain; charset=utf-8")


@login_required
@require_GET
def outbox_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    messages = selectors.outbox_messages(search=query)
    page = Paginator(messages, 50).get_page(request.GET.get("page"))
    return render(request, "delivery/outbox_list.html", {"page": page, "q": query})


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or None
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


_URL_RE = re.compile(r"https?://[^\s<>\"')]+")


def _links(html: str, text: str) -> list[tuple[str, str]]:
    """Every link of the email (HTML anchors first, then bare URLs of the text part), without repeats."""
    parser = _LinkParser()
    parser.feed(html or "")
    seen: set[str] = set()
    links: list[tuple[str, str]] = []
    for href, label in [*parser.links, *((u, "") for u in _URL_RE.findall(text or ""))]:
        if href.startswith(("http://", "https://", "/")) and href not in seen:
            seen.add(href)
            links.append((href, label))
    return links


_HEAD_RE = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_NEW_TAB = '<base target="_blank">'


def _preview_html(html: str) -> str:
    """The email's HTML for the preview frame, its links opening in a new tab: followed inside the frame, a click
    goes through Herald's redirect to a site the dashboard's CSP (frame-src 'self') refuses to frame, and the
    reader sees a broken frame. The first <base> with a target wins, so it goes at the start of the head."""
    found = _HEAD_RE.search(html)
    if found is None:
        return _NEW_TAB + html
    return html[: found.end()] + _NEW_TAB + html[found.end() :]


@email_preview
@login_required
@require_GET
@xframe_options_sameorigin
def outbox_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    """A stored email. Staff read a copy without tracking (delivery.outbox_copy) unless the Outbox stands in for
    the inboxes (OUTBOX_AS_INBOX, the embedded default) or they ask to see it as the recipient (`?as=recipient`),
    which records an open and clicks like the recipient's own."""
    message = get_object_or_404(selectors.outbox_messages(), pk=message_id)
    as_recipient = settings.OUTBOX_AS_INBOX or request.GET.get("as") == "recipient"
    body_html, body_text = message.body_html, message.body_text
    if not as_recipient:
        body_html, body_text = staff_copy(html=body_html, text=body_text)
    return render(
        request,
        "delivery/outbox_detail.html",
        {
            "message": message,
            "body_text": body_text,
            "preview_html": _preview_html(body_html) if body_html else "",
            "links": _links(body_html, body_text),
            "as_recipient": as_recipient,
            "tracking_stripped": not as_recipient and (body_html, body_text) != (message.body_html, message.body_text),
        },
    )
