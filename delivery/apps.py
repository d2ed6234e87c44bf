from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        # Template test sends leave through the configured transport (outbox, resend, smtp), like real sends.
        from delivery.services import template_test_sender
        from templates_app import services as templates_services

        templates_services.register_test_sender(template_test_sender)
