from __future__ import annotations

from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("quick/", views.quick_campaign, name="quick"),
    path("history/", views.history, name="history"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/upload/", views.campaign_upload, name="upload"),
    path("<int:pk>/scenarios/new/", views.scenario_create, name="scenario-create"),
    path("scenarios/", views.scenario_list, name="scenario-list"),
    path("scenarios/<int:pk>/", views.scenario_detail, name="scenario-detail"),
    path("scenarios/<int:pk>/edit/", views.scenario_edit, name="scenario-edit"),
    path("scenarios/<int:pk>/progress/", views.scenario_progress, name="scenario-progress"),
    path("scenarios/<int:pk>/action/", views.scenario_action, name="scenario-action"),
    path("scenarios/<int:pk>/test-send/", views.scenario_test_send, name="scenario-test-send"),
]
