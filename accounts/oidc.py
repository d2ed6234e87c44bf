"""Single sign-on for the dashboard with OpenID Connect (mozilla-django-oidc), off unless OIDC_RP_CLIENT_ID is set.

The IdP's group claim (OIDC_ROLE_CLAIM, default "groups") decides the Herald role through OIDC_ROLE_MAP
("idp-group:Role,..."), at every sign-in: a user the IdP moves to another group has the new role at their next
login. Someone in none of the mapped groups cannot sign in. A first sign-in creates the user."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts import roles, services

_RANK = {roles.VIEWER: 0, roles.CAMPAIGN_MANAGER: 1, roles.ADMIN: 2}


def parse_role_map(value: str) -> dict[str, str]:
    """ "herald-admins:Admin,herald-managers:Campaign Manager" -> {"herald-admins": "Admin", ...}."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        group, sep, role = item.rpartition(":")
        if not sep or not group.strip() or role.strip() not in roles.ALL_ROLES:
            raise ImproperlyConfigured(
                f"OIDC_ROLE_MAP entry {item!r} must be <idp group>:<{' | '.join(roles.ALL_ROLES)}>."
            )
        mapping[group.strip()] = role.strip()
    return mapping


def role_for_claims(claims: dict[str, Any]) -> str | None:
    """The widest Herald role any of the user's IdP groups maps to, or None."""
    value = claims.get(settings.OIDC_ROLE_CLAIM) or []
    groups = re.split(r"[\s,]+", value) if isinstance(value, str) else [str(g) for g in value]
    mapping = parse_role_map(settings.OIDC_ROLE_MAP)
    matched = [mapping[group] for group in groups if group in mapping]
    return max(matched, key=_RANK.__getitem__) if matched else None


class HeraldOIDCBackend(OIDCAuthenticationBackend):
    def verify_token(self, token: str, **kwargs: Any) -> Any:
        # mozilla-django-oidc checks the signature and the nonce, not the audience or the issuer: an id_token the
        # IdP made for another application must not sign anyone in here.
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The id_token was issued for another client.")
        issuer = self.get_settings("OIDC_OP_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("The id_token comes from another issuer.")
        return payload

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if not super().verify_claims(claims) or claims.get("email_verified") is False:
            return False
        return role_for_claims(claims) is not None

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[Any]:
        email = claims.get("email")
        if not email:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(email__iexact=email)

    def create_user(self, claims: dict[str, Any]) -> Any:
        user_model = get_user_model()
        email = claims["email"]
        base = str(claims.get("preferred_username") or email.split("@")[0])[:140]
        username, n = base, 1
        while user_model.objects.filter(username__iexact=username).exists():
            n += 1
            username = f"{base}{n}"
        user = user_model.objects.create_user(
            username=username,
            email=email,
            first_name=str(claims.get("given_name", ""))[:150],
            last_name=str(claims.get("family_name", ""))[:150],
        )  # no usable password: this user signs in through the IdP
        return self.update_user(user, claims)

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        role = role_for_claims(claims)
        if role is not None:
            services.user_role_set(user=user, role=role)
        return user


ViewFunc = Callable[..., HttpResponse]


def enabled_only(view: ViewFunc) -> ViewFunc:
    """The SSO endpoints exist only when OIDC is configured (they read its settings when they start)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return view(request, *args, **kwargs)

    return wrapped
