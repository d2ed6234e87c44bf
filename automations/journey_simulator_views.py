"""The journey simulator page (issue 16): pick a contact, or the next 20 who would enter, and see each step they
would take, when, the branch taken and why, and where the goal or an unsubscribe would stop them. Nothing is sent
or kept (`automations.journey_simulator`), so every role may use it; it reads by GET."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from automations import journeys
from automations.journey_models import Journey


class SimulateForm(forms.Form):
    contact = forms.CharField(required=False, max_length=254, label="Contact (email or id)")
    next = forms.BooleanField(required=False, label="The next 20 who would enter")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("next") and not str(data.get("contact") or "").strip():
            raise forms.ValidationError("Name a contact, or ask for the next 20 who would enter.")
        if not data.get("next"):
            found = journeys.simulation_contact(text=str(data["contact"]))
            if found is None:
                self.add_error("contact", "No contact with this email or id.")
            data["contact_id"] = found
        return data


@login_required
def journey_simulate(request: HttpRequest, pk: int) -> HttpResponse:
    journey = Journey.objects.filter(pk=pk).first()
    if journey is None:
        raise Http404("No such journey.")
    form = SimulateForm(request.GET if request.GET else None)
    simulations = None
    if form.is_valid():
        if form.cleaned_data.get("next"):
            ids = journeys.simulation_candidates(journey=journey)
        else:
            ids = [int(form.cleaned_data["contact_id"])]
        simulations = journeys.journey_simulate(journey_id=journey.pk, contact_ids=ids)
    return render(
        request,
        "automations/journey_simulate.html",
        {"journey": journey, "form": form, "simulations": simulations, "horizon_days": journeys.HORIZON_DAYS},
    )
