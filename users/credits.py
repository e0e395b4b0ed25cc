"""Credits: a user's balance, charged only for what was delivered.

A create (or a retry) makes a *reservation* of the task's price (the balance drops, `credits_reserved`
rises) under an id of its own, which the task row records; a task that completes charges its
delivered images against the reservation it holds and releases the rest; one that fails or is
canceled releases all of it. A reservation is settled by its own id only: a request that lost a race
(two retries of one task) releases the reservation it made, never the one the task holds. Each of
these is one ledger entry (`CreditEntry`) with a unique key, so it happens at most once whatever
retries, and every entry is applied to the user row exactly once:

1. read the user row (balance, reserved, `credits_seq` = entries applied so far);
2. apply any entry numbered past `credits_seq` (one a crashed process recorded but did not apply);
3. insert the new entry as number `credits_seq + 1` — the (user, seq) unique index lets one writer
   have each number, so two creates cannot both spend the same balance;
4. write the new balance with `credits_seq + 1`, on condition that `credits_seq` is still what was read.

A crash between 3 and 4 leaves the entry for the next operation on that user (or the reconciler) to
apply in step 2. Single-row conditional updates and a unique index: exact on SQLite, PostgreSQL and
MongoDB alike, without transactions. A user whose balance is NULL has credits off: nothing is
reserved or recorded for them."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError
from django.utils import timezone

from jimeng_server.errors import Conflict, NotFound, PaymentRequired, TooManyRequests
from jimeng_server.ids import new_id
from jimeng_server.memo import Memo

from .models import CreditEntry, User

Kind = CreditEntry.Kind
# kind -> (change of the balance, change of the reserved credits) per credit
_EFFECT = {Kind.GRANT: (1, 0), Kind.RESERVE: (-1, 1), Kind.CHARGE: (0, -1), Kind.RELEASE: (1, -1)}
_FIELDS = ("credits", "credits_reserved", "credits_seq")
_TRIES = 400  # concurrent entries on one user take turns; this bounds a pathological pile-up
_in_use = Memo(1.0)  # whether any user has a balance


def _retrying(write, tries: int = 8):
    """A single-row write, tried again when the database refused it for now: concurrent writers of one
    user's ledger can deadlock on an engine with row locks (FerretDB v2 on PostgreSQL)."""
    for attempt in range(tries):
        try:
            return write()
        except IntegrityError:
            raise
        except DatabaseError:
            if attempt == tries - 1:
                raise
            time.sleep(random.uniform(0.001, 0.02) * (attempt + 1))


def credits_in_use() -> bool:
    """Whether any user has a balance (read at most once a second per process): while none has,
    a create does not even look."""
    return _in_use.get(None, lambda: User.objects.filter(credits__isnull=False).exists())


def _state(user_id: str) -> dict | None:
    return User.objects.filter(pk=user_id).values(*_FIELDS).first()


def _apply_entry(entry: CreditEntry, state: dict) -> bool:
    """Bring the user row from entry.seq - 1 to entry.seq. False when it was not at entry.seq - 1."""
    per_balance, per_reserved = _EFFECT[entry.kind]
    return bool(
        User.objects.filter(pk=entry.user_id, credits_seq=entry.seq - 1).update(
            credits=(state["credits"] or 0) + per_balance * entry.amount,
            credits_reserved=state["credits_reserved"] + per_reserved * entry.amount,
            credits_seq=entry.seq,
        )
    )


def _caught_up(user_id: str) -> dict | None:
    """The user's row with every recorded entry applied."""
    for _ in range(_TRIES):
        state = _state(user_id)
        if state is None:
            return None
        pending = CreditEntry.objects.filter(user_id=user_id, seq=state["credits_seq"] + 1).first()
        if pending is None:
            return state
        try:
            _apply_entry(pending, state)
        except DatabaseError:  # a deadlock with another writer (see _record): look again
            time.sleep(random.uniform(0.001, 0.02))
    raise TooManyRequests("The credit ledger of this user is busy; try again.", retry_after=1)


def _record(user_id: str, *, key: str, kind: str, amount: int, check: bool = False, **fields) -> bool:
    """Record and apply one entry, at most once per key. False when the user has credits off (or is
    gone); PaymentRequired when `check` and the balance is short."""
    for _ in range(_TRIES):
        state = _caught_up(user_id)
        if state is None or (state["credits"] is None and kind != Kind.GRANT):
            return False
        if CreditEntry.objects.filter(key=key).exists():
            return True
        if check and (state["credits"] or 0) < amount:
            raise PaymentRequired(
                f"Not enough credits: this costs {amount}, the balance is {state['credits']}.",
                balance=state["credits"],
                price=amount,
            )
        if kind == Kind.GRANT and amount < 0 and (state["credits"] or 0) + amount < 0:
            raise PaymentRequired(
                f"Not enough credits to deduct {-amount}: the balance is {state['credits'] or 0}.",
                balance=state["credits"],
            )
        try:
            entry = CreditEntry.objects.create(
                user_id=user_id, seq=state["credits_seq"] + 1, key=key, kind=kind, amount=amount, **fields
            )
        except IntegrityError:
            continue  # another entry took this number first (or this key was just recorded): again
        except DatabaseError:
            # Concurrent writers of one user's ledger can deadlock on an engine with row locks (FerretDB
            # v2 on PostgreSQL): neither entry was written; look again.
            time.sleep(random.uniform(0.001, 0.02))
            continue
        try:
            _apply_entry(entry, state)  # if another process applied it meanwhile, that is the same
        except DatabaseError:
            pass  # recorded: the next operation on this user (or the reconciler) applies it
        return True
    raise TooManyRequests("The credit ledger of this user is busy; try again.", retry_after=1)


def credits_set(*, user_id: str, balance: int, note: str = "") -> dict:
    """Set a user's balance (a grant of the difference; turns credits on for them)."""
    state = _caught_up(user_id)
    if state is None:
        raise NotFound(f"User '{user_id}' not found.")
    difference = balance - (state["credits"] or 0)
    _record(user_id, key=f"grant:{new_id()}", kind=Kind.GRANT, amount=difference, note=note)
    _in_use.put(None, True)
    return credits_balance(user_id=user_id)


def credits_adjust(*, user_id: str, amount: int, reason: str, key: str) -> dict:
    """Grant (`amount` > 0) or deduct (< 0) credits in one ledger entry, at most once per `key` (a
    client's Idempotency-Key): a repeat with the same amount returns the balance as it is, one with
    another amount is a conflict. Turns credits on for the user; a deduct below zero is refused (402)."""
    state = _caught_up(user_id)
    if state is None:
        raise NotFound(f"User '{user_id}' not found.")
    existing = CreditEntry.objects.filter(key=f"adjust:{key}").values_list("user_id", "amount").first()
    if existing is not None and existing != (user_id, amount):
        raise Conflict(f"Idempotency-Key '{key}' was already used for another credit entry.")
    _record(user_id, key=f"adjust:{key}", kind=Kind.GRANT, amount=amount, note=reason[:200])
    _in_use.put(None, True)
    return credits_balance(user_id=user_id)


def credits_disable(*, user_id: str, note: str = "") -> dict:
    """Credits off for a user: what is left of the balance taken back (a ledger entry), then no balance
    at all — creates reserve nothing again. Refused while tasks of theirs hold reservations."""
    for _ in range(_TRIES):
        state = _caught_up(user_id)
        if state is None:
            raise NotFound(f"User '{user_id}' not found.")
        if state["credits"] is None:
            return credits_balance(user_id=user_id)
        if state["credits_reserved"]:
            raise Conflict(
                f"User '{user_id}' has {state['credits_reserved']} credits reserved by tasks still running; "
                "turn credits off once they end."
            )
        if state["credits"]:
            _record(user_id, key=f"off:{new_id()}", kind=Kind.GRANT, amount=-state["credits"], note=note or "off")
            continue
        turned_off = User.objects.filter(
            pk=user_id, credits=0, credits_reserved=0, credits_seq=state["credits_seq"]
        ).update(credits=None)
        if turned_off:
            return credits_balance(user_id=user_id)
    raise TooManyRequests("The credit ledger of this user is busy; try again.", retry_after=1)


def credits_balance(*, user_id: str) -> dict:
    state = _caught_up(user_id)
    if state is None:
        raise NotFound(f"User '{user_id}' not found.")
    return {"enabled": state["credits"] is not None, "balance": state["credits"], "reserved": state["credits_reserved"]}


def credits_reserve(*, user_id: str, task_id: str, model: str, amount: int) -> tuple[int, str]:
    """Reserve a task's price: (the amount, the reservation's id) — (0, "") when the user's credits are
    off. PaymentRequired when the balance is short. Each call is a reservation of its own."""
    if not credits_in_use():
        return 0, ""
    reservation = f"{task_id}:{new_id()}"
    reserved = _record(
        user_id,
        key=f"{reservation}:reserve",
        kind=Kind.RESERVE,
        amount=amount,
        check=True,
        task_id=task_id,
        model=model,
        open_since=timezone.now(),
    )
    return (amount, reservation) if reserved else (0, "")


def credits_settle(*, reservation: str, delivered: int) -> None:
    """Settle one reservation: charge `delivered` credits of it and release the rest (0: release it
    all). Safe to repeat (each part happens once); a reservation already settled is left as it is."""
    if not reservation:
        return
    reserve = CreditEntry.objects.filter(key=f"{reservation}:reserve", open_since__isnull=False).first()
    if reserve is None:
        return
    charge = max(0, min(delivered, reserve.amount))
    fields = {"task_id": reserve.task_id, "model": reserve.model}
    if charge:
        _record(reserve.user_id, key=f"{reservation}:charge", kind=Kind.CHARGE, amount=charge, **fields)
    if reserve.amount - charge:
        _record(
            reserve.user_id, key=f"{reservation}:release", kind=Kind.RELEASE, amount=reserve.amount - charge, **fields
        )
    _retrying(lambda: CreditEntry.objects.filter(pk=reserve.pk).update(open_since=None))


def credits_open(*, older_than_seconds: float) -> list[tuple[str, str, datetime]]:
    """(task id, reservation id, open since) of reservations still open after this long: for the
    reconciler."""
    since = timezone.now() - timedelta(seconds=older_than_seconds)
    rows = CreditEntry.objects.filter(open_since__isnull=False, open_since__lt=since)
    return [
        (task_id, key.removesuffix(":reserve"), opened)
        for task_id, key, opened in rows.values_list("task_id", "key", "open_since")[:1000]
    ]


def credits_usage(*, user_id: str, days: int = 30) -> dict:
    """Balance, reserved, and what was charged, per model and per day (the last `days` days)."""
    usage = credits_balance(user_id=user_id)
    since = timezone.now() - timedelta(days=days)
    charges = CreditEntry.objects.filter(user_id=user_id, kind=Kind.CHARGE, at__gte=since).values_list(
        "model", "amount", "at"
    )
    per_model: dict[str, int] = defaultdict(int)
    per_day: dict[str, int] = defaultdict(int)
    for model, amount, at in charges:
        per_model[model] += amount
        per_day[at.date().isoformat()] += amount
    usage["charged"] = sum(per_model.values())
    usage["charged_by_model"] = dict(sorted(per_model.items()))
    usage["charged_by_day"] = dict(sorted(per_day.items()))
    usage["days"] = days
    return usage


def price(model: str, images: int = 1) -> int:
    """MODEL_PRICES[model] (default 1) per image."""
    return int(settings.MODEL_PRICES.get(model, 1)) * images
