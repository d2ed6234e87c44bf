from __future__ import annotations

from django.urls import re_path

from reports.api import ReportView

# ARCHITECTURE §5 writes paths without a slash; both forms are accepted.
urlpatterns = [
    re_path(r"^reports/sends/(?P<pk>\d+)/?$", ReportView.as_view(kind="send"), name="api-report-send"),
    re_path(r"^reports/scenarios/(?P<pk>\d+)/?$", ReportView.as_view(kind="scenario"), name="api-report-scenario"),
    re_path(r"^reports/campaigns/(?P<pk>\d+)/?$", ReportView.as_view(kind="campaign"), name="api-report-campaign"),
    re_path(
        r"^reports/automations/(?P<pk>\d+)/?$", ReportView.as_view(kind="automation"), name="api-report-automation"
    ),
    re_path(
        r"^reports/automation-runs/(?P<pk>\d+)/?$",
        ReportView.as_view(kind="automation_run"),
        name="api-report-automation-run",
    ),
    re_path(
        r"^reports/journeys/(?P<pk>\d+)/steps/(?P<key>[^/]+)/?$",
        ReportView.as_view(kind="journey_step"),
        name="api-report-journey-step",
    ),
]
