from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = "Automations"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from automations.services import on_send_event
        from delivery import events
        from segments.models import Segment
        from templates_app.models import MessageTemplate

        events.subscribe(on_send_event)
        # segments and templates_app sit below automations and may not call it: deleting a segment or template
        # that an active automation uses pauses the automation (with the reason) in the delete's transaction.
        pre_delete.connect(_segment_deleting, sender=Segment, dispatch_uid="automations.segment_deleting")
        pre_delete.connect(_template_deleting, sender=MessageTemplate, dispatch_uid="automations.template_deleting")


def _segment_deleting(sender: object, instance: object, **kwargs: object) -> None:
    from automations.services import automations_pause_for_deleted

    automations_pause_for_deleted(segment_id=instance.pk)  # type: ignore[attr-defined]


def _template_deleting(sender: object, instance: object, **kwargs: object) -> None:
    from automations.services import automations_pause_for_deleted

    automations_pause_for_deleted(template_id=instance.pk)  # type: ignore[attr-defined]
