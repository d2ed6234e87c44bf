"""OpenAPI (drf-spectacular) descriptions of Herald's own authentication classes; imported by AccountsConfig.ready()."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API key from the dashboard's API keys page, as `Api-Key hk_<prefix>.<secret>`.",
        }


class ApiKeyJWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.jwt.ApiKeyJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A short-lived access token from `POST /api/v1/auth/token` (exchange an API key).",
        }
