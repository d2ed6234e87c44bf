"""API plumbing shared by every app: errors as JSON with a message per field, a 409 for state conflicts; the
API-key-for-JWT exchange."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from accounts import selectors
from accounts.authentication import throttled
from accounts.jwt import access_token_for


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this."
    default_code = "conflict"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    return drf_exception_handler(exc, context)


class TokenRequestSerializer(serializers.Serializer):
    api_key = serializers.CharField(max_length=200, trim_whitespace=True)


class TokenResponseSerializer(serializers.Serializer):
    access = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    scope = serializers.ChoiceField(choices=["read", "write", "admin"])


class AuthToken(APIView):
    """Exchange an API key for a short-lived JWT access token (`Authorization: Bearer <access>`).

    Failed keys count against the same per-address throttle as every other credential."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return "Api-Key"  # a refused key is a 401 (with no authentication classes DRF would answer 403)

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _owner, key = throttled(request, lambda: _key_for(data.validated_data["api_key"]))
        token = access_token_for(key=key)
        lifetime = int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds())
        body = {"access": str(token), "token_type": "Bearer", "expires_in": lifetime, "scope": key.scope}
        return Response(body, headers={"Cache-Control": "no-store"})


def _key_for(raw: str) -> tuple[Any, Any]:
    key = selectors.api_key_for_raw(raw=raw)
    if key is None or not key.owner.is_active:
        raise AuthenticationFailed("Invalid, expired or revoked API key.")
    return key.owner, key
