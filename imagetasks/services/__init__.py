"""Writes of image tasks, by sub-domain:

- `create`: check (pure) then write (limits and credits reserved, the row in the outbox).
- `idempotency`: a create behind an Idempotency-Key, at most once per key.
- `outbox`: send new tasks' first messages, from a worker (the transactional outbox).
- `limits`: a user's limits as atomic reservations.
- `run`: a worker's turns — claim and submit or generate; poll; store the outputs (on the I/O queue).
- `lifecycle`: the claimed task's state machine — end (completed, failed), defer a retryable failure.
- `accounts`: the upstream account pool — rotation, rests.
- `slots`: concurrency slots as tasks see them — give back and wake, park.
- `actions`: cancel and retry, by a client or an operator.
- `webhooks`: record and deliver the calls a task owes its webhook_url.
- `reconcile`: periodic repair and clean-up.
- `retention`: stored files deleted after IMAGE_RETENTION_DAYS.
- `scheduling`: what runs next — the only module that sends task messages.

The database is the source of truth; every status change is a conditional single-row update."""

from .accounts import account_restore, account_take_out, accounts_rows_sync
from .actions import task_cancel, task_cancel_upstream, task_delete, task_retry
from .create import check_task_create, do_task_create, provider_for, task_create
from .idempotency import task_create_idempotent
from .lifecycle import task_claim, task_complete, task_defer, task_fail
from .limits import active_counters_resync, limits_give_back, limits_take
from .outbox import outbox_dispatch
from .reconcile import records_expired_delete, tasks_reconcile
from .retention import files_expire
from .run import generation_request, task_poll, task_process, task_store
from .scheduling import NextStep, task_enqueue_on_commit, task_schedule
from .slots import tasks_wake
from .webhooks import webhook_deliver, webhook_dispatch, webhook_redeliver, webhooks_reconcile

__all__ = [
    "NextStep",
    "account_restore",
    "account_take_out",
    "accounts_rows_sync",
    "active_counters_resync",
    "check_task_create",
    "do_task_create",
    "files_expire",
    "generation_request",
    "limits_give_back",
    "limits_take",
    "outbox_dispatch",
    "provider_for",
    "records_expired_delete",
    "task_cancel",
    "task_cancel_upstream",
    "task_claim",
    "task_complete",
    "task_create",
    "task_create_idempotent",
    "task_defer",
    "task_delete",
    "task_enqueue_on_commit",
    "task_fail",
    "task_poll",
    "task_process",
    "task_retry",
    "task_schedule",
    "task_store",
    "tasks_reconcile",
    "tasks_wake",
    "webhook_deliver",
    "webhook_dispatch",
    "webhook_redeliver",
    "webhooks_reconcile",
]
