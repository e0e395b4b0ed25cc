"""The fair start order of tasks waiting for a slot: start-time fair queueing over users — or over
API keys, with FAIR_SHARE_BY=key (each key's tier and weight; calls without a key share as one). Below,
"user" is whichever of the two shares.

A parked task gets a start tag, and a freed slot wakes the smallest (services/slots.py). A tag is a
virtual time and, below it, a level (who goes first among equal times: the fewer tasks the user runs
and has waiting before this one, the sooner).

- A user who runs fewer tasks than the first other user in line catches up first: their tasks take
  the head's time (and win it by their lower level) until they would hold half of the two users'
  slots — so a user with a few tasks behind another's backlog takes the next slots until the two run
  about as many, then the two alternate.
- Otherwise a task's time is its user's last tag in line plus their step (or the head's time when they
  have nothing in line). A step is the tier's (`high` 0, `normal` 1,000, `batch` 10,000) divided by
  the user's weight: two users with backlogs start in turn, one of weight 2 twice as often, a `batch`
  user once for every ten of a `normal` one — and since the head moves on as tasks start, a batch
  task's turn always comes (nothing starves). A `batch` user's first task in line starts nine steps
  after the head; a `high` user's tasks stay at the head with level 0: they start at the next free slot.

Each tag costs a few indexed reads (the head and the first other user in line — at most 65 tags — the
user's last tag, two users' running tasks: at most a cap's worth each), whatever the backlog; no state
besides the tags, so embedded mode and Redis mode order alike, and a restart forgets nothing.
"""

from __future__ import annotations

from django.conf import settings

from users.models import ApiKey, Tier, User

from ..models import ImageTask, Status

TIER_STEPS = {Tier.HIGH: 0, Tier.NORMAL: 1_000, Tier.BATCH: 10_000}
LEVELS = 1 << 10  # a tag is time × LEVELS + level
_CATCHING_UP_MOST = 64  # a user catches up while their level is at most this (half of a cap of 128)


def start_tag(task: ImageTask) -> int:
    """The start tag of a task about to park (see the module's doc)."""
    field = _SHARER_FIELDS[settings.FAIR_SHARE_BY]
    sharer = getattr(task, field)
    # The line: every task with a tag — parked, or woken and on its way to its slot (it keeps its tag
    # until it starts: left out, a task parking meanwhile would take a tag before it).
    line = ImageTask.objects.filter(provider=task.provider, queue_ticket__isnull=False)
    tier, weight = _share(sharer)
    step = TIER_STEPS.get(tier, TIER_STEPS[Tier.NORMAL]) // max(1, weight)
    if tier == Tier.HIGH:
        head = line.order_by("queue_ticket").values_list("queue_ticket", flat=True).first()
        return (head // LEVELS if head is not None else 0) * LEVELS
    last = line.filter(**{field: sharer}).order_by("-queue_ticket").values_list("queue_ticket", flat=True).first()
    level = _running(task.provider, field, sharer).count() + 1 if last is None else last % LEVELS + 1
    catching_up = tier == Tier.NORMAL and level <= _CATCHING_UP_MOST
    ahead = _first_in_line(line, field, level if catching_up else 0)
    head_time = ahead[0][0] // LEVELS if ahead else 0
    if last is None:
        time = head_time + max(0, step - TIER_STEPS[Tier.NORMAL])
    else:
        time = max(head_time, last // LEVELS + step)
    if catching_up:
        other = next((who for _, who in ahead if who != sharer), None)  # the first other user in line
        if other is not None and 2 * level <= _running(task.provider, field, other).count() + 1:
            time = head_time  # still catching up with the first other user in line
    return time * LEVELS + min(level, LEVELS - 1)


def _first_in_line(line, field: str, level: int) -> list[tuple[int, str]]:
    """The first `level` + 1 tags in line and whose they are (at most 65 rows): the head, and — the user
    having fewer than `level` tasks in line (their level counts them) — the first other user's, if there
    is one. (The head alone would not do: once the user's own first task heads the line, the rest of
    their tasks would stop catching up — with a cap of 8, a user's 5 tasks alternated with a backlog's
    instead of taking the next four slots.)"""
    return list(line.order_by("queue_ticket").values_list("queue_ticket", field)[: level + 1])


_SHARER_FIELDS = {"user": "user_id", "key": "api_key"}


def _share(sharer: str) -> tuple[str, int]:
    """The sharer's tier and weight (a user's, or a key's; no key: normal, 1)."""
    model = ApiKey if settings.FAIR_SHARE_BY == "key" else User
    return model.objects.filter(pk=sharer).values_list("tier", "weight").first() or (Tier.NORMAL, 1)


def _running(provider: str, field: str, sharer: str):
    """The sharer's generations of this provider running now (at most a cap's worth)."""
    return ImageTask.objects.filter(provider=provider, status=Status.PROCESSING, **{field: sharer})


def user_full(provider: str, user_id: str) -> bool:
    """Whether the user runs USER_MAX_RUNNING of this provider's generations already (a count of at
    most that many rows)."""
    most = settings.USER_MAX_RUNNING
    return bool(most) and _running(provider, "user_id", user_id)[:most].count() >= most
