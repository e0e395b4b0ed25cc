"""Reads of users."""

from jimeng_server.errors import NotFound
from jimeng_server.mongodb.lookups import string_indexed

from .models import User


def user_get(*, user_id: str) -> User:
    try:
        return User.objects.get(pk=user_id)
    except User.DoesNotExist:
        raise NotFound(f"User '{user_id}' not found.") from None


def user_get_by_email(*, email: str) -> User:
    try:
        return User.objects.get(email=email.strip().lower(), **string_indexed("email"))
    except User.DoesNotExist:
        raise NotFound(f"No user with email '{email}'.") from None
