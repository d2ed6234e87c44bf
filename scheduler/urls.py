from __future__ import annotations

from django.urls import path

from scheduler import views

app_name = "scheduler"

urlpatterns = [path("", views.status, name="status")]
