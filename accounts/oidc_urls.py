"""The SSO endpoints, under /oidc/ without a namespace (mozilla-django-oidc reverses these names)."""

from __future__ import annotations

from django.urls import path
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.oidc import enabled_only

urlpatterns = [
    path("callback/", enabled_only(OIDCAuthenticationCallbackView.as_view()), name="oidc_authentication_callback"),
    path("authenticate/", enabled_only(OIDCAuthenticationRequestView.as_view()), name="oidc_authentication_init"),
]
