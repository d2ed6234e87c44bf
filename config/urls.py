from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static as static_url
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.permissions import api_docs_login


class FaviconRedirect(RedirectView):
    """Browsers ask for /favicon.ico whatever the page links: send them to the vendored icon (resolved per request,
    so the manifest storage of production names the hashed file)."""

    permanent = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static_url("favicon.svg")


api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("contacts.api_urls")),
    path("", include("segments.api_urls")),
    path("", include("templates_app.api_urls")),
    path("", include("campaigns.api_urls")),
    path("", include("automations.api_urls")),
    path("", include("reports.api_urls")),
    path("", include("privacy.api_urls")),
    path("", include("delivery.api_urls")),
]

urlpatterns = [
    path("", include("dashboard.urls")),
    path("favicon.ico", FaviconRedirect.as_view(), name="favicon"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oidc/", include("accounts.oidc_urls")),
    path("admin/", admin.site.urls),
    path("status/", include("scheduler.urls")),
    path("accounts/", include("accounts.urls")),
    path("contacts/", include("contacts.urls")),
    path("segments/", include("segments.urls")),
    path("templates/", include("templates_app.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("automations/", include("automations.urls")),
    path("journeys/", include("automations.journey_urls")),
    path("privacy/", include("privacy.urls")),
    path("reports/", include("reports.urls")),
    path("", include("delivery.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as its own same-origin URL (?script): the inline script
    # of the plain view would be blocked by the Content-Security-Policy (script-src 'self').
    path("api/docs/", api_docs_login(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
