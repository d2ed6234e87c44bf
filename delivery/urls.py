from __future__ import annotations

from django.urls import path

from delivery import views

app_name = "delivery"

urlpatterns = [
    path("outbox/", views.outbox_list, name="outbox"),
    path("outbox/<int:message_id>/", views.outbox_detail, name="outbox-detail"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("v/<str:token>/", views.view_in_browser, name="view"),
    path("t/o/<str:token>", views.tracking_open, name="track-open"),
    path("t/c/<str:token>", views.tracking_click, name="track-click"),
    path("webhooks/resend", views.resend_webhook, name="resend-webhook"),
]
