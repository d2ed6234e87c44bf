from __future__ import annotations

from django.urls import path

from automations import journey_views as views

app_name = "journeys"

urlpatterns = [
    path("", views.journey_list, name="list"),
    path("<int:pk>/", views.journey_detail, name="detail"),
    path("<int:pk>/action/", views.journey_action, name="action"),
    path("enrollments/<int:pk>/cancel/", views.enrollment_cancel, name="enrollment-cancel"),
]
