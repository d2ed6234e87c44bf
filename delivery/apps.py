from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        # Template test sends leave through the configured transport (outbox, resend, smtp), like real sends.
        from delivery.services import template_test_sender
        from templates_app import services as templates_services

        templates_services.register_test_sender(template_test_sender)

        # A contact deleted mid-send: its queued rows count as cancelled, so the send still closes on time.
        from django.db.models.signals import pre_delete

        from contacts.models import Contact

        pre_delete.connect(_contact_deleting, sender=Contact, dispatch_uid="delivery.contact_deleting")


def _contact_deleting(sender: object, instance: object, **kwargs: object) -> None:
    from delivery.services import contact_deleting

    contact_deleting(contact_id=instance.pk)  # type: ignore[attr-defined]
