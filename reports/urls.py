from __future__ import annotations

from django.urls import path

from reports import views

app_name = "reports"

# Every report page also answers `?export=figures` and `?export=recipients` (CSV).
urlpatterns = [
    path("sends/<int:pk>/", views.send_report, name="send"),
    path("scenarios/<int:pk>/", views.scenario_report, name="scenario"),
    path("campaigns/<int:pk>/", views.campaign_report, name="campaign"),
    path("automations/<int:pk>/", views.automation_report, name="automation"),
    path("automation-runs/<int:pk>/", views.automation_run_report, name="automation_run"),
    path("journeys/<int:pk>/steps/<str:key>/", views.journey_step_report, name="journey_step"),
    path("goals/<str:owner_type>/<int:owner_id>/", views.goal_update, name="goal"),
]
