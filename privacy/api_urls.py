from __future__ import annotations

from django.urls import path

from privacy import api

app_name = "privacy-api"

urlpatterns = [
    path("contacts/<int:pk>/export", api.ContactExport.as_view(), name="contact-export"),
    path("contacts/<int:pk>/erase", api.ContactErase.as_view(), name="contact-erase"),
]
