"""Issue 13 §4: every operation of API v1, fuzzed from its own OpenAPI schema (positive and negative examples), as
an Admin with a DRF token, in-process over WSGI. Any 5xx or any answer that breaks its documented schema fails.

Bounded on purpose: schemathesis' coverage phase (boundary and missing/wrong-typed values of every field, about 60
requests per operation) plus a few derandomized fuzzed examples keep the run near a minute and the same on every
machine; it is the net that catches a new 500 or a schema drift, not a replacement for the behaviour tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts import roles
from tests.factories import user_with_role

MAX_EXAMPLES = 6


pytestmark = pytest.mark.django_db

# Loaded when the module is collected (schemathesis' lazy `from_fixture` loader does not run under pytest 9): the
# schema is generated from the code, so no request and no database are needed for it.
CONFIG = SchemathesisConfig.from_dict(
    {
        # Probing each path with methods it does not declare (TRACE, PUT...) only meets DRF's 405 forty times.
        "phases": {"coverage": {"unexpected-methods": []}},
    }
)
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True), config=CONFIG)
schema.app = WSGIHandler()


@pytest.fixture(autouse=True)
def _in_process(settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.ALLOWED_HOSTS = ["localhost"]
    # Each request runs inside the test's transaction, on its connection, as Django's own test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(db: None) -> str:
    token, _ = Token.objects.get_or_create(user=user_with_role(roles.ADMIN))
    return token.key


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_operation_never_5xx_and_answers_its_schema(case: Any, admin_token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Token {admin_token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
