"""The pooled Resend session reads the environment once, not on every request."""

from __future__ import annotations

import pytest
import resend

from delivery.transports.resend import PooledRequestsClient


def test_the_session_takes_proxies_and_ca_bundle_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/test-bundle.pem")
    monkeypatch.setattr(resend, "api_url", "https://api.resend.com")

    session = PooledRequestsClient()._session()

    assert session.trust_env is False  # no per-request proxy and ~/.netrc lookups
    assert session.proxies["https"] == "http://proxy.example:3128"
    assert session.verify == "/etc/ssl/certs/test-bundle.pem"
