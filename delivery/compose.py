"""Turn a page of claimed Delivery rows into personalised emails: context, links, footer and headers.

The context is restricted to plain values (no model instances), so user-written content cannot reach the ORM.
"""

from __future__ import annotations

import dataclasses
import html as html_lib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse

from contacts import selectors as contact_selectors
from delivery.lru import LRUCache
from delivery.models import Send
from delivery.tokens import UNSUBSCRIBE_SALT, VIEW_SALT, token_make
from delivery.tracking_links import TrackingPrefixes, track_email
from delivery.transports import OutgoingEmail
from templates_app import rendering

# A started Send's content does not change: compiled once per process, by (send id, text part derived here).
_compiled: LRUCache[tuple[int, bool], _Compiled] = LRUCache(32)


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    contact_id: int
    email: str
    first_name: str
    last_name: str
    mobile: str
    lms_lead_id: str | None


@dataclass(frozen=True)
class _Compiled:
    message: rendering.CompiledMessage
    wants_view_url: bool
    needs_attributes: bool


def _compiled_for(send: Send, derived_text: bool) -> _Compiled:
    key = (send.pk, derived_text)
    cached = _compiled.get(key)
    if cached is not None:
        return cached
    compiled = _compile(send)
    if not derived_text and _text_is_derived(send):
        # The provider builds the text part from the HTML itself (Resend does when `text` is absent): rendering
        # it here would cost a third of the render time and almost half of every request's bytes.
        compiled = dataclasses.replace(compiled, text=None, text_from_rendered_html=False)
    entry = _Compiled(message=compiled, wants_view_url=uses_view_url(send), needs_attributes=uses_attributes(send))
    _compiled.put(key, entry)
    return entry


def _text_is_derived(send: Send) -> bool:
    """True when the text part is not written by the user but derived from the HTML."""
    if send.template_id is None:
        return bool(send.body_html) and not send.body_text
    return send.template is not None and send.template.templating_type != "text"


def _compile(send: Send) -> rendering.CompiledMessage:
    if send.template_id is None:
        return rendering.compile_message(subject=send.subject, body_text=send.body_text, body_html=send.body_html)
    assert send.template is not None
    compiled = rendering.compile_template(template=send.template)
    # The Send's subject (the scenario's) wins over the template's.
    return rendering.with_subject(compiled, send.subject) if send.subject else compiled


def link_prefixes() -> tuple[str, str]:
    """The absolute unsubscribe and view URLs with a placeholder token, reversed once per page, not per email."""
    base = settings.HERALD_BASE_URL
    unsub = base + reverse("delivery:unsubscribe", kwargs={"token": "TOKEN"})
    view = base + reverse("delivery:view", kwargs={"token": "TOKEN"})
    return unsub, view


def attributes_for(contact_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Every attribute of the page's contacts in one query."""
    return contact_selectors.contacts_attributes(contact_ids=list(contact_ids))


def _with_footer(rendered_html: str, rendered_text: str, url: str) -> tuple[str, str]:
    """Every email carries a working unsubscribe link; content that placed none gets this footer."""
    html_out, text_out = rendered_html, rendered_text
    # Tokens are URL-safe base64 and ':', so the URL reads the same escaped or not: one substring test suffices.
    if rendered_html and url not in rendered_html:
        footer = (
            '<p style="font-size:12px;color:#6c757d;margin-top:24px">'
            f'Don\'t want these emails? <a href="{html_lib.escape(url)}">Unsubscribe</a>.</p>'
        )
        at = max(rendered_html.rfind("</body>"), rendered_html.rfind("</BODY>"))
        html_out = rendered_html + footer if at < 0 else rendered_html[:at] + footer + rendered_html[at:]
    if (rendered_text or not rendered_html) and url not in rendered_text:
        text_out = f"{rendered_text.rstrip()}\n\n--\nUnsubscribe: {url}\n"
    return html_out, text_out


def _sources(send: Send) -> list[str]:
    sources = [send.subject, send.body_text, send.body_html]
    if send.template_id is not None and send.template is not None:
        sources += [send.template.subject, send.template.message]
    return [src for src in sources if src]


def uses_view_url(send: Send) -> bool:
    """Whether the content links to the browser view: signing a second token per email only when it does."""
    return any("view_url" in src or "view_in_browser_url" in src for src in _sources(send))


_PLAIN_NAMES = {*rendering.CONTACT_FIELDS, *rendering.LINK_VARIABLES}


def uses_attributes(send: Send) -> bool:
    """Whether the content reads contact attributes (`{{ city }}`, `{{ attributes.plan }}`): the page's attribute
    query is skipped when it does not. Any doubt (content that does not parse here) reads them."""
    try:
        return any(
            v.root not in _PLAIN_NAMES or v.attribute
            for src in _sources(send)
            for v in rendering.template_variables(src)
        )
    except ValueError:
        return True


def compose_page(*, send: Send, recipients: list[Recipient], derived_text: bool = True) -> list[OutgoingEmail]:
    """The page's emails, personalised. `derived_text=False` leaves out a text part the provider derives itself.

    Raises rendering.TemplateError when the content does not compile or fails to render for a recipient,
    including past the render limits: each email within TEMPLATE_RENDER_MAX_SECONDS, and the whole page within
    DELIVERY_PAGE_RENDER_MAX_SECONDS, so a slow template fails the send before the page task's time limit kills
    it (which would leave the page queued to be tried again forever)."""
    page_deadline = time.monotonic() + float(settings.DELIVERY_PAGE_RENDER_MAX_SECONDS)
    entry = _compiled_for(send, derived_text)
    compiled, wants_view_url = entry.message, entry.wants_view_url
    attributes = attributes_for(r.contact_id for r in recipients) if entry.needs_attributes else {}
    unsub_prefix, view_prefix = link_prefixes()
    tracking = send.track_opens or send.track_clicks
    # The unsubscribe and view links are never rewritten (they must work without the redirect), nor a link that
    # is already a tracking link.
    prefixes = TrackingPrefixes.build(
        exempt=(unsub_prefix.split("TOKEN", 1)[0], view_prefix.split("TOKEN", 1)[0], settings.HERALD_BASE_URL + "/t/")
    )
    from_email = send.from_email or settings.DEFAULT_FROM_EMAIL
    emails: list[OutgoingEmail] = []
    for r in recipients:
        unsubscribe_url = unsub_prefix.replace(
            "TOKEN", token_make(delivery_id=r.delivery_id, contact_id=r.contact_id, salt=UNSUBSCRIBE_SALT)
        )
        view_url = (
            view_prefix.replace("TOKEN", token_make(delivery_id=r.delivery_id, contact_id=r.contact_id, salt=VIEW_SALT))
            if wants_view_url
            else ""
        )
        context = recipient_context(r, attributes.get(r.contact_id, {}), unsubscribe_url, view_url)
        rendered = compiled.render(context, deadline=page_deadline)
        body_html, body_text = rendered.html, rendered.text
        if tracking:
            body_html, body_text = track_email(
                html=body_html,
                text=body_text,
                delivery_id=r.delivery_id,
                send_id=send.pk,
                opens=send.track_opens,
                clicks=send.track_clicks,
                prefixes=prefixes,
            )
        body_html, body_text = _with_footer(body_html, body_text, unsubscribe_url)
        emails.append(
            OutgoingEmail(
                delivery_id=r.delivery_id,
                to=r.email,
                from_email=from_email,
                subject=rendered.subject,
                html=body_html,
                text=body_text,
                headers={
                    "List-Unsubscribe": f"<{unsubscribe_url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                    "X-Herald-Delivery": str(r.delivery_id),
                },
            )
        )
    return emails


def recipient_context(r: Recipient, attributes: dict[str, Any], unsubscribe_url: str, view_url: str) -> dict[str, Any]:
    return {
        "first_name": r.first_name,
        "last_name": r.last_name,
        "full_name": f"{r.first_name} {r.last_name}".strip(),
        "email": r.email,
        "mobile": r.mobile,
        "lms_lead_id": r.lms_lead_id or "",
        "attributes": attributes,
        "unsubscribe_url": unsubscribe_url,
        "view_url": view_url,
    }
