from __future__ import annotations

from django.urls import path

from automations import journey_builder as builder
from automations import journey_views as views

app_name = "journeys"

urlpatterns = [
    path("", views.journey_list, name="list"),
    path("new/", builder.journey_create, name="create"),
    path("<int:pk>/", views.journey_detail, name="detail"),
    path("<int:pk>/live/", views.journey_live, name="live"),
    path("<int:pk>/edit/", builder.journey_edit, name="edit"),
    path("<int:pk>/steps/add/", builder.step_add, name="step-add"),
    path("<int:pk>/steps/<str:key>/", builder.step_edit, name="step-edit"),
    path("<int:pk>/steps/<str:key>/move/", builder.step_move, name="step-move"),
    path("<int:pk>/steps/<str:key>/remove/", builder.step_remove, name="step-remove"),
    path("<int:pk>/action/", views.journey_action, name="action"),
    path("enrollments/<int:pk>/cancel/", views.enrollment_cancel, name="enrollment-cancel"),
    path("contacts/<int:contact_pk>/enroll/", views.contact_enroll, name="contact-enroll"),
]
