from __future__ import annotations

from config.api_paths import slash_optional
from contacts import api

app_name = "contacts-api"

urlpatterns = [
    *slash_optional("contacts", api.ContactList.as_view(), name="contact-list"),
    *slash_optional("contacts/bulk", api.ContactBulk.as_view(), name="contact-bulk"),
    *slash_optional("contacts/<int:pk>", api.ContactDetail.as_view(), name="contact-detail"),
    *slash_optional("events", api.EventCreate.as_view(), name="event-create"),
    *slash_optional("imports", api.ImportList.as_view(), name="import-list"),
    *slash_optional("imports/<int:pk>", api.ImportDetail.as_view(), name="import-detail"),
    *slash_optional("imports/<int:pk>/errors", api.ImportErrors.as_view(), name="import-errors"),
]
