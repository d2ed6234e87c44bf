from __future__ import annotations

from django.conf import settings
from django.db import models


class MessageTemplate(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WHATSAPP = "whatsapp", "WhatsApp"

    class TemplatingType(models.TextChoices):
        MJML = "mjml", "MJML"
        HTML = "html", "HTML"
        TEXT = "text", "Plain text"

    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    templating_type = models.CharField(max_length=10, choices=TemplatingType.choices, default=TemplatingType.MJML)
    subject = models.CharField(max_length=300, blank=True)
    message = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
