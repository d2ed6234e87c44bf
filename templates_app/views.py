"""Dashboard pages for message templates: thin edges over selectors and services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from config.csp import email_preview
from templates_app import selectors, services, starters
from templates_app.forms import MessageTemplateForm, PreviewContactForm, TestSendForm
from templates_app.models import MessageTemplate
from templates_app.rendering import TemplateError

PAGE_SIZE = 25


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    channel = request.GET.get("channel", "")
    templating = request.GET.get("templating_type", "")
    qs = selectors.template_list(search=search, channel=channel, templating_type=templating)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "templates_app/list.html",
        {
            "page": page,
            "q": search,
            "channel": channel,
            "templating_type": templating,
            "channels": MessageTemplate.Channel.choices,
            "templatings": MessageTemplate.TemplatingType.choices,
        },
    )


def _preview_context(*, subject: str, body: str, templating: str, contact_key: str) -> dict[str, object]:
    contact = selectors.preview_contact(key=contact_key)
    ctx: dict[str, object] = {"contact": contact, "contact_key": contact_key, "contact_missing": False}
    if contact_key and contact is None:
        ctx["contact_missing"] = True
    try:
        ctx["rendered"] = services.template_render_preview(
            subject=subject, body=body, templating=templating, contact=contact
        )
    except TemplateError as exc:
        ctx["error"] = exc
    ctx["check"] = services.template_check(subject=subject, body=body, templating=templating)
    return ctx


@email_preview
@login_required
def template_detail(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(MessageTemplate, pk=pk)
    contact_key = request.GET.get("contact", "").strip()
    ctx = _preview_context(
        subject=template.subject, body=template.message, templating=template.templating_type, contact_key=contact_key
    )
    ctx.update(
        {
            "template": template,
            "preview_form": PreviewContactForm(initial={"contact": contact_key}),
            "test_form": TestSendForm(initial={"to": request.user.email, "contact": contact_key}),  # type: ignore[union-attr]
        }
    )
    return render(request, "templates_app/detail.html", ctx)


def _save(
    request: HttpRequest, template: MessageTemplate | None, *, starter: starters.Starter | None = None
) -> HttpResponse:
    initial = {}
    if starter is not None:
        initial = {
            "name": "" if starter is starters.SKELETON else starter.title,
            "channel": starter.channel,
            "templating_type": starter.templating_type,
            "subject": starter.subject,
            "message": starter.message,
        }
    form = MessageTemplateForm(request.POST or None, instance=template, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = {f: form.cleaned_data[f] for f in services.EDITABLE_FIELDS}
        try:
            if template is None:
                template = services.template_create(user=request.user, **data)
                messages.success(request, f"Template “{template.name}” created.")
            else:
                template = services.template_update(template=MessageTemplate.objects.get(pk=template.pk), **data)
                messages.success(request, f"Template “{template.name}” saved.")
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            return redirect("templates_app:detail", pk=template.pk)
    return render(
        request,
        "templates_app/form.html",
        {
            "form": form,
            "template": template,
            "gallery": starters.GALLERY if template is None else (),
            "starter": starter,
        },
    )


@email_preview
@editor_required
def template_create(request: HttpRequest) -> HttpResponse:
    """A new template opens on the skeleton, or on the gallery's `?starter=<key>`; nothing is stored until Save."""
    return _save(request, None, starter=starters.starter_get(request.GET.get("starter", "")))


@email_preview
@editor_required
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _save(request, get_object_or_404(MessageTemplate, pk=pk))


@login_required
@require_POST
def template_preview(request: HttpRequest) -> HttpResponse:
    """HTMX: the live preview of unsaved content (renders only; nothing is stored)."""
    ctx = _preview_context(
        subject=request.POST.get("subject", ""),
        body=request.POST.get("message", ""),
        templating=request.POST.get("templating_type", MessageTemplate.TemplatingType.MJML),
        contact_key=request.POST.get("contact", ""),
    )
    return render(request, "templates_app/_preview.html", ctx)


@editor_required
@require_POST
def template_test_send(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(MessageTemplate, pk=pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid address for the test email.")
        return redirect("templates_app:detail", pk=pk)
    contact_key = form.cleaned_data["contact"]
    contact = selectors.preview_contact(key=contact_key)
    if contact_key and contact is None:
        messages.error(request, f"No contact {contact_key!r}; the test was not sent.")
        return redirect("templates_app:detail", pk=pk)
    try:
        note = services.template_test_send(template=template, to=form.cleaned_data["to"], contact=contact)
    except services.TestSendError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Test sent to {form.cleaned_data['to']} ({note}).")
    return redirect("templates_app:detail", pk=pk)


@editor_required
@require_POST
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(MessageTemplate, pk=pk)
    name = template.name
    try:
        services.template_delete(template=template)
    except services.TemplateInUse as exc:
        messages.error(request, str(exc))
        return redirect("templates_app:detail", pk=pk)
    messages.success(request, f"Template “{name}” deleted.")
    return redirect("templates_app:list")
