"""Short-lived JWT access tokens made from an API key (djangorestframework-simplejwt).

A token carries its key's id and scope; every request re-checks that the key is still active, so revoking (or the
expiry of) a key ends its tokens at once instead of at their own expiry."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.tokens import AccessToken

from accounts import roles, selectors
from accounts.authentication import throttled
from accounts.models import ApiKey

KEY_ID_CLAIM = "api_key_id"
SCOPE_CLAIM = "scope"


def access_token_for(*, key: ApiKey) -> AccessToken:
    token = AccessToken.for_user(key.owner)
    token[KEY_ID_CLAIM] = key.pk
    token[SCOPE_CLAIM] = key.scope
    return token


class ApiKeyJWTAuthentication(JWTAuthentication):
    """`Authorization: Bearer <jwt>` made by `POST /api/v1/auth/token`, under the failed-credential throttle. The
    user is capped at the narrower of the token's scope and its key's (accounts.roles.cap_role)."""

    def authenticate(self, request: Request) -> Any:
        header = self.get_header(request)
        if header is None or not header.split() or header.split()[0] != b"Bearer":
            return None
        return throttled(request, lambda: self._check(header))

    def _check(self, header: bytes) -> tuple[Any, AccessToken]:
        raw = self.get_raw_token(header)
        if raw is None:
            raise AuthenticationFailed("Invalid Bearer header.")
        token = self.get_validated_token(raw)
        key = selectors.api_key_active_by_id(key_id=token.get(KEY_ID_CLAIM))
        if key is None:
            raise AuthenticationFailed("The API key of this token is revoked, expired or unknown.")
        user = self.get_user(token)
        if user.pk != key.owner_id:
            raise AuthenticationFailed("The token does not belong to its key's owner.")
        claimed = str(token.get(SCOPE_CLAIM))
        if claimed not in roles.SCOPE_RANK:
            raise AuthenticationFailed("The token has no valid scope.")
        scope = min(claimed, key.scope, key=roles.SCOPE_RANK.__getitem__)
        roles.cap_role(user, scope)
        return user, token  # type: ignore[return-value]
