from __future__ import annotations

from django.urls import path

from templates_app import views

app_name = "templates_app"

urlpatterns = [
    path("", views.template_list, name="list"),
    path("new/", views.template_create, name="create"),
    path("preview/", views.template_preview, name="preview"),
    path("<int:pk>/", views.template_detail, name="detail"),
    path("<int:pk>/edit/", views.template_edit, name="edit"),
    path("<int:pk>/test-send/", views.template_test_send, name="test-send"),
    path("<int:pk>/delete/", views.template_delete, name="delete"),
]
