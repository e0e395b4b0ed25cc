"""Writes of users: create, update, delete, and the implicit creation behind a task's user_id."""

from django.db import IntegrityError, transaction

from jimeng_server.errors import Conflict
from jimeng_server.mongodb.lookups import string_indexed

from .models import User
from .selectors import user_get


def normalise_email(email: str | None) -> str | None:
    """Emails are kept lower-case, so that lookups are exact matches an index can serve."""
    return email.strip().lower() if email else None


def _email_taken(email: str | None, *, exclude_id: str | None = None) -> bool:
    if not email:
        return False
    return User.objects.filter(email=email, **string_indexed("email")).exclude(pk=exclude_id).exists()


def user_create(*, email: str | None, name: str = "", user_id: str | None = None) -> User:
    email = normalise_email(email)
    if user_id and User.objects.filter(pk=user_id).exists():
        raise Conflict(f"A user with id '{user_id}' already exists.")
    if _email_taken(email):
        raise Conflict(f"A user with email '{email}' already exists.")
    user = User(email=email, name=name)
    if user_id:
        user.id = user_id
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError:  # lost a race with a concurrent create
        raise Conflict("A user with this id or email already exists.") from None
    return user


def user_update(*, user_id: str, email: str | None = None, name: str | None = None, set_email: bool = False) -> User:
    user = user_get(user_id=user_id)
    if set_email:
        email = normalise_email(email)
        if _email_taken(email, exclude_id=user.pk):
            raise Conflict(f"A user with email '{email}' already exists.")
        user.email = email
    if name is not None:
        user.name = name
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise Conflict("A user with this email already exists.") from None
    return user


def user_share_set(*, user_id: str, tier: str | None = None, weight: int | None = None) -> User:
    """Their priority tier and share weight; tasks that park from now on are ordered by them."""
    user = user_get(user_id=user_id)
    user.tier = tier or user.tier
    user.weight = weight or user.weight
    user.save(update_fields=["tier", "weight", "updated_at"])
    return user


def user_delete(*, user_id: str) -> None:
    """The user, their tasks and keys (cascade); their files, idempotency keys and limit counters
    (imagetasks' receiver of the deletion)."""
    user_get(user_id=user_id).delete()


def user_exists(*, user_id: str) -> bool:
    return User.objects.filter(pk=user_id).exists()


def user_get_or_create_implicit(*, user_id: str) -> User:
    """A task may name a user the server has never seen (the seed's workflow does): that user is
    created then, without email, so the task has an owner and `/tasks/user/<id>` finds it."""
    user = User.objects.filter(pk=user_id).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create(id=user_id)
    except IntegrityError:  # created concurrently by another request
        return User.objects.get(pk=user_id)
