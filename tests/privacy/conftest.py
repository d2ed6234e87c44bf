from __future__ import annotations

import io
from typing import Any, cast

import pytest
from django.utils import timezone

from automations.journeys import journey_create
from automations.models import Enrollment
from contacts import services as contact_services
from contacts.models import Contact, ImportJob
from delivery import services as delivery_services
from delivery.models import Delivery, OutboxMessage, WebhookEvent

TARGET = "Zoe.Erasure-Target@privacy-test.example"
ADDRESS = TARGET.lower()


def run_import(data: str, *, name: str = "people.csv") -> ImportJob:
    job = contact_services.import_job_create(file=io.BytesIO(data.encode()), original_name=name, start=False)
    return contact_services.import_job_run(job_id=job.pk)


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def person(db: None, media: Any, settings: Any) -> Contact:
    """A contact with everything: imported (attributes, an error report line naming it), a funnel event, a sent
    email (delivery + outbox copy), a provider event whose payload names it, a journey enrollment, a tracking row
    when the model exists, consent rows with an IP, and an audit entry that mentions it."""
    settings.EMAIL_TRANSPORT = "outbox"
    run_import(
        "email,first_name,last_name,mobile,plan\n"
        f"{TARGET},Zoe,Quixotic-Erasure,+44 7700 900123,gold\n"
        "other@privacy-test.example,Other,Person,,free\n"
        "zoe.erasure-target-at-privacy-test.example,Zoe,Quixotic-Erasure,,gold\n"
    )
    contact = Contact.objects.get(email=ADDRESS)
    contact_services.funnel_events_create(items=[{"email": ADDRESS, "to_stage": "signed_up"}])
    contact_services.contact_unsubscribe(contact_id=contact.pk, source="link", ip="203.0.113.9")
    contact_services.contact_resubscribe(contact_id=contact.pk, ip="203.0.113.10")
    send = delivery_services.send_create(
        label="t", subject="Hi {{ first_name }}", body_text="Dear {{ full_name }}, {{ email }}"
    )
    delivery_services.send_start(send_id=send.pk, audience=Contact.objects.values("pk"))
    delivery_services.page_send(send_id=send.pk, page=0)
    delivery = Delivery.objects.get(send=send, contact=contact)
    assert OutboxMessage.objects.filter(to=ADDRESS).exists()
    Delivery.objects.filter(pk=delivery.pk).update(provider_message_id="msg-privacy-1")
    WebhookEvent.objects.create(
        event_id="evt-privacy-1",
        event_type="email.opened",
        provider_message_id="msg-privacy-1",
        delivery_id=delivery.pk,
        payload={"type": "email.opened", "data": {"email_id": "msg-privacy-1", "to": [ADDRESS]}},
    )
    _tracking_row(delivery)
    journey = journey_create(
        name="Welcome", trigger={"type": "api"}, steps=[{"key": "w1", "type": "wait", "minutes": 60}]
    )
    Enrollment.objects.create(journey=journey, contact=contact, step_key="w1", entered_at=timezone.now())
    _audit_mention()
    return contact


def _tracking_row(delivery: Delivery) -> None:
    from django.apps import apps

    try:
        model = apps.get_model("delivery", "TrackingEvent")
    except LookupError:
        return
    values: dict[str, Any] = {"delivery_id": delivery.pk, "send_id": delivery.send_id, "kind": "click"}
    fields = {f.name for f in model._meta.get_fields()}
    for name, value in (
        ("url", f"https://shop.example/?u={ADDRESS}"),
        ("user_agent", "Mozilla/5.0 (ZoePhone)"),
        ("ip", "198.51.100.7"),
    ):
        if name in fields:
            values[name] = value
    model._default_manager.create(**values)


def _audit_mention() -> None:
    """An audit entry whose recorded change holds the address (a campaign description later edited)."""
    from campaigns.models import Campaign
    from tests.factories import CampaignFactory

    campaign = cast(Campaign, CampaignFactory(description=f"VIP list: {TARGET}"))
    campaign.description = "VIP list"
    campaign.save()
