from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from contacts.models import Contact
from templates_app import services
from templates_app.models import MessageTemplate
from templates_app.rendering import RenderedEmail
from tests.segments.util import make_contact, set_attribute

pytestmark = pytest.mark.django_db

BODY = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Hi {{ first_name }} from {{ attributes.city }}, plan {{ plan|default:"basic" }}</mj-text>
<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


def _template(**kwargs: Any) -> MessageTemplate:
    data = {"name": "Welcome", "subject": "Hi {{ first_name|default:'there' }}", "message": BODY} | kwargs
    return services.template_create(user=None, **data)


def test_create_refuses_content_that_does_not_compile() -> None:
    with pytest.raises(ValidationError) as info:
        _template(message="<mjml><mj-body><mj-section></mj-body></mjml>")
    assert "message" in info.value.message_dict


def test_create_refuses_a_bad_subject_with_the_subject_field() -> None:
    with pytest.raises(ValidationError) as info:
        _template(subject="Hi {% if %}")
    assert "subject" in info.value.message_dict


def test_check_lists_recipients_for_whom_a_variable_is_empty() -> None:
    ann = make_contact(first_name="Ann")
    bob = make_contact(first_name="")
    set_attribute(ann, "city", "string", "Oslo")
    audience = Contact.objects.filter(pk__in=[ann.pk, bob.pk]).values_list("id", flat=True)
    report = services.template_check(template=_template(), audience_ids=audience)
    by_name = {v.expression: v for v in report.variables}
    assert by_name["first_name"].missing == 1 and by_name["first_name"].sample == [bob.email]
    assert by_name["attributes.city"].missing == 1 and by_name["attributes.city"].sample == [bob.email]
    assert by_name["plan"].ok
    assert report.audience_size == 2
    assert not report.ok


def test_check_passes_when_every_variable_resolves() -> None:
    ann = make_contact(first_name="Ann")
    set_attribute(ann, "city", "string", "Oslo")
    report = services.template_check(template=_template(), audience_ids=Contact.objects.values_list("id", flat=True))
    assert report.ok, report.problems
    assert report.has_unsubscribe
    assert 0 < report.size_bytes < report.size_limit


def test_check_reports_a_missing_unsubscribe_link_as_a_warning() -> None:
    report = services.template_check(subject="s", body="<p>Hello</p>", templating="html")
    assert not report.has_unsubscribe
    assert report.warnings and report.ok


def test_check_reports_size_over_gmail_clipping() -> None:
    report = services.template_check(subject="s", body="<p>" + "x" * 110_000 + "</p>", templating="html")
    assert not report.size_ok
    assert any("Gmail" in p for p in report.problems)


def test_check_reports_compile_error_with_line() -> None:
    report = services.template_check(subject="s", body="a\n{% for %}", templating="text")
    assert not report.compiles and report.error_line == 2


def test_test_send_renders_as_the_contact_through_the_registered_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[RenderedEmail, str, str]] = []

    def sender(email: RenderedEmail, to: str, from_email: str) -> str:
        sent.append((email, to, from_email))
        return "ok"

    monkeypatch.setattr(services, "TEST_SENDER", sender)
    ann = make_contact(first_name="Ann")
    assert services.template_test_send(template=_template(), to="qa@example.org", contact=ann) == "ok"
    email, to, _ = sent[0]
    assert to == "qa@example.org"
    assert email.subject == "[Test] Hi Ann"
    assert "Hi Ann" in email.text and email.html


def test_test_send_reports_transport_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(email: RenderedEmail, to: str, from_email: str) -> str:
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr(services, "TEST_SENDER", broken)
    with pytest.raises(services.TestSendError, match="no SMTP server"):
        services.template_test_send(template=_template(), to="qa@example.org", contact=None)


def test_test_send_through_django_mail_without_the_engine(
    mailoutbox: list[Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fallback sender, used when delivery has not registered its transport-backed one.
    monkeypatch.setattr(services, "TEST_SENDER", services._django_mail_sender)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    services.template_test_send(template=_template(), to="qa@example.org", contact=None)
    assert mailoutbox[0].to == ["qa@example.org"]
    assert mailoutbox[0].alternatives[0][1] == "text/html"
