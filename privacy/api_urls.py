from __future__ import annotations

from config.api_paths import slash_optional
from privacy import api

app_name = "privacy-api"

urlpatterns = [
    *slash_optional("contacts/<int:pk>/export", api.ContactExport.as_view(), name="contact-export"),
    *slash_optional("contacts/<int:pk>/erase", api.ContactErase.as_view(), name="contact-erase"),
]
