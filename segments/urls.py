from __future__ import annotations

from django.urls import path

from segments import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_create, name="create"),
    path("preview/", views.segment_preview, name="preview"),
    path("<int:pk>/", views.segment_detail, name="detail"),
    path("<int:pk>/members/", views.segment_detail, name="members"),
    path("<int:pk>/edit/", views.segment_edit, name="edit"),
    path("<int:pk>/upload/", views.segment_upload, name="upload"),
    path("<int:pk>/members/remove/", views.segment_member_remove, name="member-remove"),
    path("<int:pk>/delete/", views.segment_delete, name="delete"),
]
