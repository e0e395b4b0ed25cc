"""API keys: made once, shown once, kept as a SHA-256 hash behind a lookup prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.utils import timezone

from jimeng_server.errors import NotFound

from .models import ApiKey


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(*, user_id: str | None, name: str = "", **share) -> tuple[ApiKey, str]:
    """A new key for a user (or, with user_id None, a service key), with its share (`tier`, `weight`)
    if given. Returns it and its secret text, which is not stored and cannot be shown again."""
    prefix = secrets.token_hex(6)
    raw = f"jk_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(id=prefix, user_id=user_id, name=name, key_hash=_hash(raw), **share)
    return key, raw


def api_key_share_set(*, key_id: str, tier: str | None = None, weight: int | None = None) -> ApiKey:
    """The key's priority tier and share weight (FAIR_SHARE_BY=key); tasks that park from now on are
    ordered by them."""
    key = ApiKey.objects.filter(pk=key_id).first()
    if key is None:
        raise NotFound(f"API key '{key_id}' not found.")
    key.tier = tier or key.tier
    key.weight = weight or key.weight
    key.save(update_fields=["tier", "weight"])
    return key


def api_key_verify(raw: str) -> ApiKey | None:
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "jk":
        return None
    key = ApiKey.objects.filter(pk=parts[1], revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(raw.strip())):
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:  # not a write per request
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def api_key_revoke(*, key_id: str, owner: str | None = None) -> ApiKey:
    keys = ApiKey.objects.filter(pk=key_id)
    if owner is not None:
        keys = keys.filter(user_id=owner)
    key = keys.first()
    if key is None:
        raise NotFound(f"API key '{key_id}' not found.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
