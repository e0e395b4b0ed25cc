"""Who is calling: an API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`) names a user,
or a service that may act for any user. On embedded defaults bound to loopback no key is needed."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from jimeng_server.errors import NotFound
from jimeng_server.proxies import is_local


@dataclass(frozen=True)
class Principal:
    user_id: str | None  # None: may act for any user (a service key, or local mode)
    key_id: str | None = None

    def owner_filter(self) -> str | None:
        """The user every read and write must stay within, or None for any."""
        return self.user_id

    def check_user(self, user_id: str) -> None:
        """A user key touching another user's things finds nothing there."""
        if self.user_id is not None and self.user_id != user_id:
            raise NotFound(f"User '{user_id}' not found.")


LOCAL = Principal(user_id=None)


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        raw = (
            header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "").strip()
        )
        if not raw:
            return None
        from users.keys import api_key_verify

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


class HasApiAccess(BasePermission):
    message = "Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."

    def has_permission(self, request, view):
        if isinstance(request.auth, Principal) or settings.API_AUTH == "off":
            return True
        # Keyless only from this machine itself: never through a reverse proxy.
        return not settings.API_KEYS_REQUIRED and is_local(request)


def principal(request) -> Principal:
    return request.auth if isinstance(request.auth, Principal) else LOCAL


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
        from users.counters import rate_take

        self.retry_after = rate_take(
            key_id=request.auth.key_id, limit=int(count), window_seconds=self._UNITS[period.strip()[0]]
        )
        return self.retry_after is None

    def wait(self):
        return self.retry_after
