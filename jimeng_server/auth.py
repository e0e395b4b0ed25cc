"""Who is calling, as every view asks it: a `Principal` (a user, or a service that may act for any
user), set by the authentication of the users app (users/auth.py: API keys); and who may call at all.
On embedded defaults bound to loopback no key is needed."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from rest_framework.permissions import BasePermission

from jimeng_server.errors import NotFound
from jimeng_server.proxies import is_local


@dataclass(frozen=True)
class Principal:
    user_id: str | None  # None: may act for any user (a service key, or local mode)
    key_id: str | None = None

    @property
    def key(self) -> str:
        """The prefix of the key that called, "" without one (what a task records of who sent it)."""
        return self.key_id or ""

    def owner_filter(self) -> str | None:
        """The user every read and write must stay within, or None for any."""
        return self.user_id

    def check_user(self, user_id: str) -> None:
        """A user key touching another user's things finds nothing there."""
        if self.user_id is not None and self.user_id != user_id:
            raise NotFound(f"User '{user_id}' not found.")


LOCAL = Principal(user_id=None)


class HasApiAccess(BasePermission):
    message = "Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."

    def has_permission(self, request, view):
        if isinstance(request.auth, Principal) or settings.API_AUTH == "off":
            return True
        # Keyless only from this machine itself: never through a reverse proxy.
        return not settings.API_KEYS_REQUIRED and is_local(request)


def principal(request) -> Principal:
    return request.auth if isinstance(request.auth, Principal) else LOCAL
