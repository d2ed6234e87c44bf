"""The journey builder pages: create a journey, edit its trigger / goal / re-entry / zone, and add, edit, reorder
and remove its steps. Every change is the steps JSON of ARCHITECTURE §5 handed to `journeys.journey_create` /
`journeys.journey_update`, the API's own services, so the page and the API refuse the same things with the same
messages. Every page needs the Admin or Campaign Manager role."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import editor_required
from automations import journey_selectors as selectors
from automations import journeys
from automations.forms import apply_service_errors
from automations.journey_forms import JourneyForm, StepForm, new_key, timezone_choices
from automations.journey_models import Journey


def _get_journey(pk: int) -> Journey:
    journey = Journey.objects.filter(pk=pk).first()
    if journey is None:
        raise Http404("No such journey.")
    return journey


def _editable(request: HttpRequest, journey: Journey) -> bool:
    if journey.status == Journey.Status.ARCHIVED:
        messages.error(request, "An archived journey cannot be edited.")
        return False
    return True


def _keys(steps: list[dict[str, Any]], *, but: str = "") -> list[str]:
    return [s["key"] for s in steps if s["key"] != but]


def _save_steps(request: HttpRequest, journey: Journey, steps: list[dict[str, Any]], done: str) -> bool:
    """Hand the new steps to the service; its refusal is shown as it is, and nothing changes."""
    try:
        journeys.journey_update(journey=journey, steps=steps)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return False
    except journeys.JourneyStateError as exc:
        messages.error(request, str(exc))
        return False
    messages.success(request, done)
    return True


def _builder_context(journey: Journey | None, form: JourneyForm, step_form: StepForm | None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "journey": journey,
        "form": form,
        "step_form": step_form,
        "stages": selectors.stage_names(),
        "zones": [name for name, _ in timezone_choices()],
    }
    if journey is not None:
        steps = journeys.steps_to_json(journey)
        check = journeys.journey_activation_check(journey=journey)
        by_step, other = selectors.step_errors(messages=check.errors, keys=_keys(steps))
        rows = journey.steps.select_related("template").order_by("position", "id")
        context.update(
            steps=[(step, by_step.get(step.key, [])) for step in rows],
            other_errors=other,
            warnings=check.warnings,
            keys=_keys(steps),
        )
    return context


@editor_required
def journey_create(request: HttpRequest) -> HttpResponse:
    form = JourneyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            journey = journeys.journey_create(**form.journey_fields(), user=request.user)
        except ValidationError as exc:
            apply_service_errors(form, _on_form_fields(exc))
        else:
            messages.success(request, "Journey created as a draft: now add its steps.")
            return redirect("journeys:edit", pk=journey.pk)
    return render(request, "automations/journey_builder.html", _builder_context(None, form, None))


def _on_form_fields(exc: ValidationError) -> ValidationError:
    """The service names `trigger` and `goal`; the form has them as `trigger_type` / `goal_type`."""
    if not hasattr(exc, "error_dict"):
        return exc
    renamed = {{"trigger": "trigger_type", "goal": "goal_type"}.get(k, k): v for k, v in exc.message_dict.items()}
    return ValidationError(renamed)


@editor_required
def journey_edit(request: HttpRequest, pk: int) -> HttpResponse:
    journey = _get_journey(pk)
    form = JourneyForm(request.POST or None, initial=JourneyForm.initial_of(journey))
    if request.method == "POST" and _editable(request, journey) and form.is_valid():
        try:
            journeys.journey_update(journey=journey, **form.journey_fields())
        except ValidationError as exc:
            apply_service_errors(form, _on_form_fields(exc))
        except journeys.JourneyStateError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect("journeys:edit", pk=journey.pk)
    keys = _keys(journeys.steps_to_json(journey))
    step_form = StepForm(keys=keys, initial={"type": "send"})
    return render(request, "automations/journey_builder.html", _builder_context(journey, form, step_form))


@require_POST
@editor_required
def step_add(request: HttpRequest, pk: int) -> HttpResponse:
    journey = _get_journey(pk)
    steps = journeys.steps_to_json(journey)
    form = StepForm(request.POST, keys=_keys(steps))
    if _editable(request, journey) and form.is_valid():
        key = (form.cleaned_data.get("key") or "").strip() or new_key(form.cleaned_data["type"], set(_keys(steps)))
        after = request.POST.get("after", "")
        index = len(steps)
        if after == "^":
            index = 0
        elif after in _keys(steps):
            index = _keys(steps).index(after) + 1
        steps.insert(index, form.to_json(key=key))
        if _save_steps(request, journey, steps, f"Step {key} added."):
            return redirect(f"{_edit_url(journey)}#step-{key}")
    journey_form = JourneyForm(initial=JourneyForm.initial_of(journey))
    return render(request, "automations/journey_builder.html", _builder_context(journey, journey_form, form))


def _edit_url(journey: Journey) -> str:
    return reverse("journeys:edit", args=[journey.pk])


def _find(steps: list[dict[str, Any]], key: str) -> int:
    for index, item in enumerate(steps):
        if item["key"] == key:
            return index
    raise Http404("No such step.")


@editor_required
def step_edit(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    journey = _get_journey(pk)
    steps = journeys.steps_to_json(journey)
    index = _find(steps, key)
    form = StepForm(request.POST or None, keys=_keys(steps, but=key), initial=StepForm.initial_of(steps[index]))
    if request.method == "POST" and _editable(request, journey) and form.is_valid():
        new = (form.cleaned_data.get("key") or "").strip() or key
        steps[index] = form.to_json(key=new)
        if new != key:  # a renamed step keeps the paths that led to it
            for item in steps:
                for path in ("yes", "no", "next"):
                    if item.get(path) == key:
                        item[path] = new
        if _save_steps(request, journey, steps, f"Step {new} saved."):
            return redirect(f"{_edit_url(journey)}#step-{new}")
    check = journeys.journey_activation_check(journey=journey)
    by_step, _ = selectors.step_errors(messages=check.errors, keys=_keys(steps))
    context = {
        "journey": journey,
        "step_key": key,
        "form": form,
        "errors": by_step.get(key, []),
        "stages": selectors.stage_names(),
    }
    return render(request, "automations/journey_step_form.html", context)


@require_POST
@editor_required
def step_move(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    journey = _get_journey(pk)
    steps = journeys.steps_to_json(journey)
    index = _find(steps, key)
    target = index - 1 if request.POST.get("direction") == "up" else index + 1
    if _editable(request, journey) and 0 <= target < len(steps):
        steps[index], steps[target] = steps[target], steps[index]
        _save_steps(request, journey, steps, f"Step {key} moved {'up' if target < index else 'down'}.")
    return redirect(f"{_edit_url(journey)}#step-{key}")


@require_POST
@editor_required
def step_remove(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    journey = _get_journey(pk)
    steps = journeys.steps_to_json(journey)
    index = _find(steps, key)
    if _editable(request, journey):
        del steps[index]
        _save_steps(request, journey, steps, f"Step {key} removed.")
    return redirect(_edit_url(journey))
