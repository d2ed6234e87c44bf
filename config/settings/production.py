"""Production: every secret comes from the environment and a missing one stops the boot."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
# No default: personal data is encrypted with these (docs/privacy.md); a missing key stops the boot.
HERALD_ENCRYPTION_KEYS = [key.strip() for key in env.list("HERALD_ENCRYPTION_KEYS") if key.strip()]
if not HERALD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("HERALD_ENCRYPTION_KEYS is empty: set at least one Fernet key (docs/privacy.md).")
HERALD_HASH_KEY = env("HERALD_HASH_KEY", default=SECRET_KEY)
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# The OpenAPI schema and docs need a login unless this is set (docs/security.md).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)

# --- HTTPS (python manage.py check --deploy is clean with these) -------------------------------------------
# Herald runs behind a TLS-terminating reverse proxy (nginx, a load balancer). Django trusts the proxy's
# X-Forwarded-Proto to know a request came over HTTPS. The proxy MUST set (overwrite) that header on every
# request, e.g. nginx `proxy_set_header X-Forwarded-Proto $scheme;`, or a client could claim HTTPS itself.
# Set DJANGO_SECURE_PROXY_SSL_HEADER=false when Django terminates TLS itself (no proxy).
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Every plain-HTTP request is redirected to HTTPS (the proxy may also do it); the health check of a load balancer
# that probes over HTTP can be exempted with DJANGO_SECURE_REDIRECT_EXEMPT (regexes of paths without the slash).
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = env.list("DJANGO_SECURE_REDIRECT_EXEMPT", default=[])
# Browsers remember to use HTTPS only for a year (start lower, e.g. 3600, on a first rollout: it cannot be undone
# for browsers that saw it). `preload` only makes the domain eligible for the browsers' preload list; nothing is
# listed until someone submits it at hstspreload.org.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# The manifest storage stays strict (a template naming a missing static file fails at collectstatic, not in
# front of a user); the vendored files carry no sourceMappingURL to maps that are not vendored.
