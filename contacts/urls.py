from __future__ import annotations

from django.urls import path

from contacts import views

app_name = "contacts"

urlpatterns = [
    path("", views.contact_list, name="list"),
    path("new/", views.contact_create, name="create"),
    path("export.csv", views.contact_export, name="export"),
    path("<int:pk>/", views.contact_detail, name="detail"),
    path("<int:pk>/edit/", views.contact_edit, name="edit"),
    path("<int:pk>/unsubscribe/", views.contact_unsubscribe, name="unsubscribe"),
    path("<int:pk>/resubscribe/", views.contact_resubscribe, name="resubscribe"),
    path("<int:pk>/delete/", views.contact_delete, name="delete"),
    path("events/", views.event_list, name="event-list"),
    path("events/<int:pk>/", views.event_detail, name="event-detail"),
    path("imports/", views.import_list, name="import-list"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import-progress"),
    path("imports/<int:pk>/errors.csv", views.import_errors, name="import-errors"),
]
