"""API keys as the API's authentication (`Authorization: Bearer <key>` or `X-API-Key: <key>`) and its
rate limit per key: each request names a `Principal` (jimeng_server/auth.py) for the views. Settings
name these classes (REST_FRAMEWORK); the project package imports nothing of this app."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.throttling import BaseThrottle

from jimeng_server.auth import Principal

from .counters import rate_take
from .keys import api_key_verify


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        raw = (
            header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "").strip()
        )
        if not raw:
            return None
        key = api_key_verify(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return (None, Principal(user_id=key.user_id, key_id=key.pk))

    def authenticate_header(self, request):
        return 'Bearer realm="jimeng"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The OpenAPI description of ApiKeyAuthentication: a key as a Bearer token or in X-API-Key, so
    that Swagger UI can authorize and generated clients know where keys go."""

    target_class = ApiKeyAuthentication
    name = ["ApiKeyBearer", "ApiKeyHeader"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer jk_...`"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key: `X-API-Key: jk_...`"},
        ]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]  # either one, not both


class ApiKeyRateThrottle(BaseThrottle):
    """API_RATE_LIMIT requests per key ("600/min"); 429 with Retry-After past it. Each request is an
    atomic reservation (users.counters.rate_take), so parallel requests cannot pass it together.
    Requests without a key (local mode) are not counted."""

    _UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def allow_request(self, request, view):
        self.retry_after = None
        rate = settings.API_RATE_LIMIT
        if not rate or not (isinstance(request.auth, Principal) and request.auth.key_id):
            return True
        count, period = rate.split("/")
        self.retry_after = rate_take(
            key_id=request.auth.key_id, limit=int(count), window_seconds=self._UNITS[period.strip()[0]]
        )
        return self.retry_after is None

    def wait(self):
        return self.retry_after
