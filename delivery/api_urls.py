from __future__ import annotations

from django.urls import path

from delivery import views

# ARCHITECTURE §5 lists the provider webhook under the API's base: the same view as `/webhooks/resend` (the URL the
# README tells users to give Resend), Svix-signed, not under the API's token auth. No name: `reverse` gives that one.
urlpatterns = [
    path("webhooks/resend", views.resend_webhook),
]
