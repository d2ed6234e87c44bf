"""The checks an automation passes before it is saved or activated: its fields, and the template's pre-send check
over the segment's contacts."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from automations import cron
from automations import services as _services  # `_audience` is looked up there, so a test can patch it
from automations.models import Automation
from segments.errors import SegmentError
from segments.models import Segment
from segments.selectors import segment_contact_ids
from templates_app import services as template_services
from templates_app.models import MessageTemplate

WHATSAPP_REFUSED = "WhatsApp sending is not available yet: choose an email template."


class AutomationStateError(Exception):
    """The automation's state does not allow this operation (the API answers 409)."""


def _audience(segment: Segment) -> Any:
    return segment_contact_ids(segment=segment)


def automation_activation_problems(*, automation: Automation) -> list[str]:
    """Why the automation cannot be active: the template's pre-send check over the segment's contacts now
    (the same `template_check` the template page runs), with who fails each problem."""
    if automation.template is None or automation.segment is None:
        return ["Choose a segment and a template."]
    try:
        report = template_services.template_check(
            template=automation.template, audience_ids=_services._audience(automation.segment)
        )
    except SegmentError as exc:
        return [f"The segment cannot be evaluated: {exc}"]
    problems = list(report.problems)
    # For a scenario a missing link is only a warning (the engine appends a footer, templates_app's check); an
    # automation keeps sending by itself to whoever enters the segment, so here it blocks activation.
    if report.compiles and not report.has_unsubscribe:
        problems.append(
            f"No {{{{ unsubscribe_url }}}} link: an automation sends by itself, so its email must carry one "
            f"(it would reach all {report.audience_size or 0:,} contacts of the segment now)."
        )
    for variable in report.unresolved:
        if variable.sample:
            problems.append(f"{{{{ {variable.expression} }}}} is empty for e.g. {', '.join(variable.sample)}.")
    return problems


def _validate(automation: Automation, *, check_template: bool) -> None:
    errors: dict[str, list[str]] = {}
    if not (automation.name or "").strip():
        errors.setdefault("name", []).append("Give the automation a name.")
    try:
        automation.cron = cron.validate(automation.cron or "")
    except cron.CronError as exc:
        errors.setdefault("cron", []).append(str(exc))
    try:
        cron.zone(automation.timezone or "")
    except ValueError as exc:
        errors.setdefault("timezone", []).append(str(exc))
    if automation.start_date and automation.end_date and automation.end_date < automation.start_date:
        errors.setdefault("end_date", []).append("The end date is before the start date.")
    if automation.segment_id is None:
        errors.setdefault("segment", []).append("Choose a segment.")
    if automation.template_id is None:
        errors.setdefault("template", []).append("Choose a template.")
    elif automation.template is not None and automation.template.channel == MessageTemplate.Channel.WHATSAPP:
        errors.setdefault("template", []).append(WHATSAPP_REFUSED)
    if errors:
        raise ValidationError(errors)
    if check_template and automation.is_active:
        problems = automation_activation_problems(automation=automation)
        if problems:
            raise ValidationError({"template": ["It cannot be activated: " + " ".join(problems)]})


def automation_validate(*, automation: Automation) -> None:
    """The checks create/update run, for forms that want the message before saving (the admin)."""
    _validate(automation, check_template=True)
