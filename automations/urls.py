from __future__ import annotations

from django.urls import path

from automations import journey_simulator_views, views

app_name = "automations"

urlpatterns = [
    path("", views.automation_list, name="list"),
    path("new/", views.automation_create, name="create"),
    path("cron-preview/", views.cron_preview, name="cron-preview"),
    path("<int:pk>/", views.automation_detail, name="detail"),
    path("<int:pk>/edit/", views.automation_edit, name="edit"),
    path("<int:pk>/action/", views.automation_action, name="action"),
    path("<int:pk>/runs/<int:run_pk>/", views.automation_run_detail, name="run-detail"),
    path("<int:pk>/runs/<int:run_pk>/progress/", views.automation_run_progress, name="run-progress"),
    # The journey simulator (the journeys: namespace's pages are automations.journey_urls).
    path("journeys/<int:pk>/simulate/", journey_simulator_views.journey_simulate, name="journey_simulate"),
]
