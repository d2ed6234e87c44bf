"""Writes and actions on message templates: create/update with validation, test sends, the pre-send check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import ProtectedError, Q, QuerySet

from contacts import selectors as contact_selectors
from contacts.models import Contact
from templates_app import rendering
from templates_app.models import MessageTemplate
from templates_app.rendering import CompiledMessage, RenderedEmail, TemplateError

EDITABLE_FIELDS = ("name", "channel", "templating_type", "subject", "message")
CHECK_SAMPLE = 10


def template_compile_source(*, subject: str, body: str, templating: str) -> CompiledMessage:
    """Compile unsaved content the way the send engine will (raises TemplateError with its line)."""
    if templating == MessageTemplate.TemplatingType.MJML:
        return rendering.compile_message(subject=subject, body_mjml=body)
    if templating == MessageTemplate.TemplatingType.HTML:
        return rendering.compile_message(subject=subject, body_html=body)
    return rendering.compile_message(subject=subject, body_text=body)


def template_syntax_validate(value: str, *, kind: str = "template") -> None:
    """Raise ValidationError ("Line N: ...") when `value` does not compile in the sandbox: the same check a
    template's subject and message get, for content written elsewhere (a scenario's subject and content)."""
    try:
        rendering.check_template_syntax(value or "", kind=kind)
    except TemplateError as exc:
        raise ValidationError(str(exc), code="template_syntax") from exc


def subject_syntax_validator(value: str) -> None:
    """A form/serializer validator for a subject line with template variables."""
    template_syntax_validate(value, kind="subject")


def content_syntax_validator(value: str) -> None:
    """A form/serializer validator for message content with template variables."""
    template_syntax_validate(value, kind="template")


def _validate(template: MessageTemplate) -> None:
    errors: dict[str, str] = {}
    if not template.name.strip():
        errors["name"] = "Give the template a name."
    if not template.message.strip():
        errors["message"] = "The message is empty."
    if template.channel not in MessageTemplate.Channel.values:
        errors["channel"] = f"Unknown channel {template.channel!r}."
    if template.templating_type not in MessageTemplate.TemplatingType.values:
        errors["templating_type"] = f"Unknown templating type {template.templating_type!r}."
    if template.channel == MessageTemplate.Channel.EMAIL and not template.subject.strip():
        errors["subject"] = "An email needs a subject."
    if not errors:
        try:
            template_compile_source(
                subject=template.subject, body=template.message, templating=template.templating_type
            )
        except TemplateError as exc:
            errors["subject" if exc.source == "subject" else "message"] = str(exc)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def template_create(
    *,
    user: Any,
    name: str,
    message: str,
    subject: str = "",
    channel: str = MessageTemplate.Channel.EMAIL,
    templating_type: str = MessageTemplate.TemplatingType.MJML,
) -> MessageTemplate:
    template = MessageTemplate(
        name=name.strip(),
        channel=channel,
        templating_type=templating_type,
        subject=subject.strip(),
        message=message,
        created_by=user if getattr(user, "pk", None) else None,
    )
    _validate(template)
    template.save()
    return template


@transaction.atomic
def template_update(*, template: MessageTemplate, **changes: Any) -> MessageTemplate:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Cannot change {', '.join(sorted(unknown))} of a template.")
    for name, value in changes.items():
        setattr(template, name, value.strip() if name in ("name", "subject") else value)
    _validate(template)
    template.save(update_fields=[*EDITABLE_FIELDS, "updated_at"])
    return template


class TemplateInUse(Exception):
    """The template is used by a scenario or a send, which keep it (PROTECT)."""


@transaction.atomic
def template_delete(*, template: MessageTemplate) -> None:
    try:
        template.delete()
    except ProtectedError as exc:
        raise TemplateInUse(
            f"“{template.name}” is used by scenarios or sends and cannot be deleted; edit it instead."
        ) from exc


# --- rendering as a contact -------------------------------------------------------------------------------


def preview_links() -> tuple[str, str]:
    """Links for previews and test sends: they point at Herald but carry no token, so they change nothing."""
    base = settings.HERALD_BASE_URL
    return f"{base}/unsubscribe/preview/", f"{base}/view/preview/"


def contact_render_context(*, contact: Contact | None) -> dict[str, Any]:
    """The plain-dict context for `contact` (or an anonymous reader), with preview links."""
    unsubscribe_url, view_url = preview_links()
    if contact is None:
        return rendering.contact_context(unsubscribe_url=unsubscribe_url, view_in_browser_url=view_url)
    attributes = contact_selectors.contact_attributes(contact_id=contact.pk)
    return rendering.contact_context(
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=contact.email,
        mobile=contact.mobile,
        lms_lead_id=contact.lms_lead_id,
        attributes=attributes,
        unsubscribe_url=unsubscribe_url,
        view_in_browser_url=view_url,
    )


def template_render_preview(*, subject: str, body: str, templating: str, contact: Contact | None) -> RenderedEmail:
    compiled = template_compile_source(subject=subject, body=body, templating=templating)
    return compiled.render(contact_render_context(contact=contact))


# --- test send ----------------------------------------------------------------------------------------------

# (rendered email, recipient address, from address) -> a short note for the user (e.g. the provider's id).
TestSender = Callable[[RenderedEmail, str, str], str]


def _django_mail_sender(email: RenderedEmail, to: str, from_email: str) -> str:
    message = EmailMultiAlternatives(subject=email.subject, body=email.text, from_email=from_email, to=[to])
    if email.html:
        message.attach_alternative(email.html, "text/html")
    message.send(fail_silently=False)
    return "sent through Django's email backend"


# The delivery app replaces this in its AppConfig.ready() with a sender that uses the configured transport
# (templates_app sits below delivery and must not import it); see docs/internals.md.
TEST_SENDER: TestSender = _django_mail_sender


def register_test_sender(sender: TestSender) -> None:
    global TEST_SENDER
    TEST_SENDER = sender


class TestSendError(Exception):
    """The test email could not be rendered or sent; the message is fit for the user."""


def template_test_send(*, template: MessageTemplate, to: str, contact: Contact | None) -> str:
    """Render `template` as `contact` and send it to `to` (any address) through TEST_SENDER."""
    to = (to or "").strip()
    if "@" not in to:
        raise TestSendError("Enter the address to send the test to.")
    if template.channel != MessageTemplate.Channel.EMAIL:
        raise TestSendError("WhatsApp templates are stored but not sent yet.")
    try:
        rendered = rendering.compile_template(template=template).render(contact_render_context(contact=contact))
    except TemplateError as exc:
        raise TestSendError(str(exc)) from exc
    rendered = RenderedEmail(subject=f"[Test] {rendered.subject}", html=rendered.html, text=rendered.text)
    try:
        return TEST_SENDER(rendered, to, settings.DEFAULT_FROM_EMAIL)
    except Exception as exc:  # any transport failure is reported to the user, never a 500
        raise TestSendError(f"The test email was not sent: {exc}") from exc


# --- pre-send check -----------------------------------------------------------------------------------------


@dataclass
class VariableCheck:
    expression: str
    has_default: bool
    missing: int = 0
    sample: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.has_default or self.missing == 0


@dataclass
class CheckReport:
    compiles: bool = True
    error: str = ""
    error_line: int | None = None
    variables: list[VariableCheck] = field(default_factory=list)
    audience_size: int | None = None
    has_unsubscribe: bool = False
    size_bytes: int = 0
    size_limit: int = rendering.GMAIL_CLIP_BYTES

    @property
    def size_ok(self) -> bool:
        return self.size_bytes <= self.size_limit

    @property
    def unresolved(self) -> list[VariableCheck]:
        return [v for v in self.variables if not v.ok]

    @property
    def problems(self) -> list[str]:
        """What blocks a send."""
        out: list[str] = []
        if not self.compiles:
            out.append(self.error)
        for v in self.unresolved:
            out.append(f'{{{{ {v.expression} }}}} is empty for {v.missing:,} recipient(s); add |default:"...".')
        if not self.size_ok:
            out.append(
                f"The HTML is {self.size_bytes / 1024:.0f} KB; Gmail clips messages over {self.size_limit // 1024} KB."
            )
        return out

    @property
    def warnings(self) -> list[str]:
        if self.compiles and not self.has_unsubscribe:
            return ["No {{ unsubscribe_url }} link: the send engine appends a standard unsubscribe footer."]
        return []

    @property
    def ok(self) -> bool:
        return not self.problems


_FIELD_LOOKUPS = {
    "first_name": Q(first_name=""),
    "last_name": Q(last_name=""),
    "full_name": Q(first_name="", last_name=""),
    "email": Q(email=""),
    "mobile": Q(mobile=""),
    "lms_lead_id": Q(lms_lead_id__isnull=True) | Q(lms_lead_id=""),
}


def _missing_for(variable: rendering.UsedVariable, contacts: QuerySet[Contact]) -> QuerySet[Contact] | None:
    """The audience contacts for whom `variable` renders empty (None when it always resolves)."""
    if variable.root in rendering.LINK_VARIABLES:
        return None
    if variable.root in _FIELD_LOOKUPS:
        return contacts.filter(_FIELD_LOOKUPS[variable.root])
    if not variable.attribute:
        return contacts
    return contact_selectors.contacts_without_attribute(contacts=contacts, name=variable.attribute)


def template_check(
    *,
    template: MessageTemplate | None = None,
    subject: str = "",
    body: str = "",
    templating: str = MessageTemplate.TemplatingType.MJML,
    audience_ids: QuerySet[Any, Any] | None = None,
) -> CheckReport:
    """Pre-send check of a template (or of unsaved content): it compiles, every variable resolves for the
    audience (who fails, a sample), an unsubscribe link is present, the HTML stays under Gmail's clipping size.

    Set-based: one count query per variable, however large the audience.
    """
    if template is not None:
        subject, body, templating = template.subject, template.message, template.templating_type
    report = CheckReport()
    try:
        compiled = template_compile_source(subject=subject, body=body, templating=templating)
        used = rendering.template_variables(subject) + rendering.template_variables(body)
    except TemplateError as exc:
        report.compiles, report.error, report.error_line = False, str(exc), exc.line
        return report
    report.has_unsubscribe = any(v.root == "unsubscribe_url" for v in used)
    contacts: QuerySet[Contact] | None = None
    if audience_ids is not None:
        contacts = Contact.objects.filter(pk__in=audience_ids)
        report.audience_size = contacts.count()
    merged: dict[str, rendering.UsedVariable] = {}
    for variable in used:
        previous = merged.get(variable.expression)
        if previous is None or (previous.has_default and not variable.has_default):
            merged[variable.expression] = variable
    for variable in merged.values():
        check = VariableCheck(variable.expression, variable.has_default)
        report.variables.append(check)
        if contacts is None or variable.has_default:
            continue
        missing = _missing_for(variable, contacts)
        if missing is not None:
            check.missing = missing.count()
            if check.missing:
                check.sample = list(missing.order_by("id").values_list("email", flat=True)[:CHECK_SAMPLE])
    # Size: rendered for the first recipient (or an anonymous reader): personalisation barely moves it.
    first = contacts.order_by("id").first() if contacts is not None else None
    try:
        rendered = compiled.render(contact_render_context(contact=first))
    except TemplateError as exc:  # a render error or a render limit: it would fail the send the same way
        report.compiles, report.error, report.error_line = False, str(exc), exc.line
        return report
    report.size_bytes = rendering.html_size_bytes(rendered.html or rendered.text)
    return report
