from __future__ import annotations

from accounts import api
from config.api_paths import slash_optional

urlpatterns = [
    *slash_optional("auth/token", api.AuthToken.as_view(), name="api-auth-token"),
]
