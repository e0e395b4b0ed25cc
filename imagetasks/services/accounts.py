"""The upstream account pool as the pipeline sees it: which accounts take new work now, taking one
out of rotation (its keys refused) and putting it back, and resting a throttled one.

Out of rotation is kept in the database (`UpstreamAccount`: the admin, /health and the `accounts`
command show it, and it survives restarts); each process reads it at most every two seconds. A rest
(after a rate or concurrency limit) lasts ACCOUNT_REST_SECONDS, in Redis when Redis is the broker,
so every worker routes around it; while one account rests the others keep working. An account out of
rotation still has its in-flight generations polled: the keys of an upstream task are the ones that
made it, and a poll refused too sends the task to another account."""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings
from django.utils import timezone

from jimeng_server import metrics
from jimeng_server.memo import Memo
from jimeng_server.shared_redis import shared_redis
from providers import registry
from providers.base import Account, Provider

from ..models import UpstreamAccount

log = logging.getLogger(__name__)

_out = Memo(2.0)  # provider -> {name: (reason, keys fingerprint)} of its accounts out of rotation
_resting_here: dict[tuple[str, str], float] = {}  # embedded mode: (provider, name) -> until (monotonic)


def _rest_key(provider: str, name: str) -> str:
    return f"jimeng:account-rest:{provider}:{name}"


def _out_rows(provider: str) -> dict[str, tuple[str, str]]:
    def read() -> dict[str, tuple[str, str]]:
        rows = UpstreamAccount.objects.filter(provider=provider, in_rotation=False)
        return {name: (reason, keys) for name, reason, keys in rows.values_list("name", "reason", "keys_fingerprint")}

    return _out.get(provider, read)


def accounts_out(provider: Provider) -> dict[str, str]:
    """The configured accounts of a provider out of rotation, with the reason (one taken out for
    refused keys is back once it is configured with other keys)."""
    out = _out_rows(provider.name)
    return {
        account.name: out[account.name][0]
        for account in provider.accounts()
        if account.name in out and out[account.name][1] in ("", account.fingerprint)
    }


def _resting(provider: str, accounts: list[Account]) -> set[str]:
    client = shared_redis()
    if client is None:
        now = time.monotonic()
        return {a.name for a in accounts if _resting_here.get((provider, a.name), 0) > now}
    try:
        flags = client.mget([_rest_key(provider, account.name) for account in accounts])
    except redis.RedisError:
        return set()
    return {account.name for account, flag in zip(accounts, flags, strict=True) if flag}


def accounts_for_work(provider: Provider) -> list[Account]:
    """The accounts a new generation may run on: those in rotation, less those resting (unless all
    are: then the upstream's own answer decides). Empty when every account is out of rotation."""
    configured = list(provider.accounts())
    out = accounts_out(provider)
    usable = [account for account in configured if account.name not in out]
    if len(usable) > 1:
        resting = _resting(provider.name, usable)
        awake = [account for account in usable if account.name not in resting]
        return awake or usable
    return usable


def account_take_out(*, provider: str, name: str, reason: str, keys: str = "") -> None:
    """Out of rotation: no new work goes to it until an operator puts it back (or, with `keys`, the
    fingerprint of refused keys, until it is configured with other keys)."""
    now = timezone.now()
    row, created = UpstreamAccount.objects.get_or_create(
        id=f"{provider}:{name}",
        defaults={
            "provider": provider,
            "name": name,
            "in_rotation": False,
            "reason": reason,
            "changed_at": now,
            "keys_fingerprint": keys,
        },
    )
    if not created and (row.in_rotation or row.keys_fingerprint != keys):
        UpstreamAccount.objects.filter(pk=row.pk).update(
            in_rotation=False, reason=reason, changed_at=now, keys_fingerprint=keys
        )
    if created or row.in_rotation:
        log.warning("Upstream account %s:%s taken out of rotation: %s", provider, name, reason)
        metrics.ACCOUNT_EVENTS.labels(provider, name, "taken_out").inc()
    _out.forget(provider)


def account_restore(*, provider: str, name: str, by: str = "an operator") -> bool:
    """Back in rotation. False when it was not out."""
    restored = UpstreamAccount.objects.filter(pk=f"{provider}:{name}", in_rotation=False).update(
        in_rotation=True, reason=f"put back by {by}", changed_at=timezone.now()
    )
    _out.forget(provider)
    if restored:
        log.info("Upstream account %s:%s put back in rotation by %s", provider, name, by)
        metrics.ACCOUNT_EVENTS.labels(provider, name, "restored").inc()
    return bool(restored)


def account_rest(*, provider: str, name: str) -> None:
    """Throttled: no new work for ACCOUNT_REST_SECONDS (its in-flight work goes on)."""
    seconds = settings.ACCOUNT_REST_SECONDS
    client = shared_redis()
    if client is None:
        _resting_here[(provider, name)] = time.monotonic() + seconds
        return
    try:
        client.set(_rest_key(provider, name), "1", px=max(1, int(seconds * 1000)))
    except redis.RedisError:
        pass


def accounts_rows_sync() -> None:
    """A row for every configured account of the live providers (for the admin's list)."""
    for provider_name in registry.provider_names():
        provider = registry.provider_get(provider_name)
        if provider_name == "local" or not provider.is_configured():
            continue
        for account in provider.accounts():
            UpstreamAccount.objects.get_or_create(
                id=f"{provider_name}:{account.name}", defaults={"provider": provider_name, "name": account.name}
            )
