from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from django.core.cache import cache

_addresses = itertools.count(1)


@pytest.fixture
def client_address() -> Iterator[str]:
    """A client address of this test alone, and no API-auth failures left counted for it afterwards (the cache is
    the real Redis in tests, shared by every test)."""
    n = next(_addresses)
    address = f"198.51.{n // 250}.{n % 250 + 1}"
    yield address
    cache.delete(f"herald:api-auth-failures:{address}")
