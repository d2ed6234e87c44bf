"""config/api_paths.py: routes answered with and without a trailing slash, documented once."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from config.api_paths import drop_slashed_duplicates


@pytest.fixture(scope="module")
def schema_paths() -> set[str]:
    return set(SchemaGenerator().get_schema(request=None, public=True)["paths"])


def test_a_route_answered_both_ways_is_documented_once_as_written(schema_paths: set[str]) -> None:
    assert {"/api/v1/contacts", "/api/v1/contacts/{id}", "/api/v1/auth/token"} <= schema_paths
    assert not {"/api/v1/contacts/", "/api/v1/contacts/{id}/", "/api/v1/auth/token/"} & schema_paths


def test_a_routers_endpoint_keeps_its_slashed_form(schema_paths: set[str]) -> None:
    assert "/api/v1/campaigns/" in schema_paths


def test_only_the_slashed_twin_of_the_same_method_is_dropped() -> None:
    view: Any = object()
    endpoints = [
        ("/a", "", "GET", view),
        ("/a/", "", "GET", view),
        ("/a/", "", "POST", view),  # no unslashed POST: kept
        ("/b/", "", "GET", view),
    ]

    assert drop_slashed_duplicates(endpoints) == [endpoints[0], endpoints[2], endpoints[3]]
