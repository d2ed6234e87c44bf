from __future__ import annotations

from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dashboard, name="home"),
    path("dashboard/sending/", views.sending, name="sending"),
    path("dashboard/period/", views.period, name="period"),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/scenarios/<int:pk>/move/", views.scenario_move, name="scenario-move"),
]
