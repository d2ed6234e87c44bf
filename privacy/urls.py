from __future__ import annotations

from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("contacts/<int:pk>/export.<str:fmt>", views.contact_export, name="contact-export"),
    path("contacts/<int:pk>/erase/", views.contact_erase, name="contact-erase"),
]
