from __future__ import annotations

from django.urls import path

from contacts import api

app_name = "contacts-api"

urlpatterns = [
    path("contacts", api.ContactList.as_view(), name="contact-list"),
    path("contacts/bulk", api.ContactBulk.as_view(), name="contact-bulk"),
    path("contacts/<int:pk>", api.ContactDetail.as_view(), name="contact-detail"),
    path("events", api.EventCreate.as_view(), name="event-create"),
    path("imports", api.ImportList.as_view(), name="import-list"),
    path("imports/<int:pk>", api.ImportDetail.as_view(), name="import-detail"),
    path("imports/<int:pk>/errors", api.ImportErrors.as_view(), name="import-errors"),
]
