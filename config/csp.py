"""Per-view additions to the site-wide Content-Security-Policy (CONTENT_SECURITY_POLICY in config/settings)."""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update

# A page that shows an email preview (a sandboxed `srcdoc` iframe, which inherits the page's policy) lets the
# email's images load from any https host, as a mail client would. Scripts stay 'self' only.
EMAIL_PREVIEW_IMAGES: dict[str, Any] = {"img-src": ["https:"]}


def email_preview(view: Any) -> Any:
    """Decorate a view whose page embeds an email preview."""
    return csp_update(EMAIL_PREVIEW_IMAGES)(view)
