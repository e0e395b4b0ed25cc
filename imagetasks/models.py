"""ImageTask: one prompt turned (or not yet) into images or a video, and the rules for moving between
statuses. (The name is older than videos: a video task is an ImageTask of kind "video".)"""

from django.db import models
from django.utils import timezone

from jimeng_server.ids import new_id
from users.models import User


class Status(models.TextChoices):
    PENDING = "pending", "pending"
    PROCESSING = "processing", "processing"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"
    CANCELED = "canceled", "canceled"


TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELED})
# Statuses an operator may send back to `pending` with "retry".
RETRYABLE_STATUSES = frozenset({Status.FAILED, Status.CANCELED})
# Statuses that "cancel" applies to.
CANCELABLE_STATUSES = frozenset({Status.PENDING, Status.PROCESSING})


class ImageTask(models.Model):
    id = models.CharField("task id", primary_key=True, max_length=32, default=new_id, editable=False, db_column="_id")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="image_tasks")
    # The client's own id for this task (the seed's "external task ID association"); unique per user.
    # NULL when the client gave none: a plain unique index then lets any number of tasks have none,
    # on every engine (a condition on the index, "non-empty", is refused by some MongoDB-compatible
    # ones once the backend adds its own $type test to the same field).
    external_task_id = models.CharField(  # noqa: DJ001 - unique when given: none is NULL (Django docs)
        "external task id", max_length=128, null=True, blank=True, default=None
    )
    kind = models.CharField(
        max_length=16, default="image", help_text="Its task kind (imagetasks/kinds): image, video, …"
    )
    provider = models.CharField(max_length=32, help_text="Which upstream runs it; 'local' is a drawn placeholder.")
    model = models.CharField(max_length=100)
    prompt = models.TextField()
    params = models.JSONField("parameters", default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    upstream_task_id = models.CharField("upstream task id", max_length=128, blank=True, default="")
    # The upstream account its generation runs on (set by the claim, with its slot): an upstream task
    # id is valid only for the account that made it, so polls and cancels use this one.
    account = models.CharField("upstream account", max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a worker claimed it, ever.")
    # Claims allowed before a retryable error becomes final; an operator's retry raises it.
    attempts_limit = models.PositiveIntegerField(default=3)
    # When a worker should next look at it: a retry's backoff, or the next poll of an upstream.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    # {"images": [{"name": <storage name>, "width", "height", "content_type", "source_url"?}]}, or for a
    # video {"videos": [{"name", "width", "height", "duration", "content_type", "source_url"?,
    # "last_frame"?: {"name", "width", "height"}, "thumbnail"?: (the same, when no last frame was asked)}]}
    result = models.JSONField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField("submitted upstream", null=True, blank=True)
    # Generations started again because the upstream lost the previous one (not_found, expired).
    resubmits = models.PositiveIntegerField(default=0)
    # Fencing token of the poll chain: a poll message acts only if it carries the current value.
    polls = models.PositiveIntegerField(default=0)
    holds_slot = models.BooleanField("holds a concurrency slot", default=False)
    # Set while pending and parked until a concurrency slot frees: woken by the task that frees it (or
    # by the reconciler), never by a timer, so a backlog far above the cap costs nothing while it waits.
    # Cleared when claimed or canceled.
    waiting_since = models.DateTimeField("waiting for a free slot since", null=True, blank=True)
    # Its place in the provider's line when parked: a start tag in the fair order (services/fair.py),
    # kept if it parks again before it starts, cleared when claimed or canceled.
    queue_ticket = models.BigIntegerField("queue ticket", null=True, blank=True)
    # The API key (its public prefix) that created it, "" without one: whose share of the upstream it
    # takes when FAIR_SHARE_BY=key (services/fair.py).
    api_key = models.CharField("API key", max_length=16, blank=True, default="")
    # Credits reserved at create or retry (0: the user's credits are off), under the reservation id the
    # task holds now; that reservation — and only it — is charged or given back when the task ends.
    credits_reserved = models.PositiveIntegerField("credits reserved", default=0)
    credits_reservation = models.CharField("credit reservation", max_length=64, blank=True, default="")
    webhook_url = models.URLField(max_length=2048, blank=True, default="")
    # "terminal": one call when the task ends; "all": also when it starts processing.
    webhook_events = models.CharField(max_length=16, blank=True, default="terminal")
    # Set in the same update that ends the task, cleared when its delivery is recorded: a crash in
    # between cannot lose the webhook (the reconciler records it).
    webhook_due = models.BooleanField(default=False)
    # A transactional outbox: a create only writes the row, with this set; a worker's dispatcher
    # (imagetasks/dispatcher.py) sends the Celery message and clears it. A crash in between loses
    # nothing: the reconciler sends any pending task that is still waiting for its message. A time,
    # not a flag: the index serves "the oldest first" as a range scan (SQLite never uses an index
    # for a bare boolean column in WHERE).
    outbox_since = models.DateTimeField("waiting for its first message since", null=True, blank=True)
    # When its stored files (images, uploaded references) were deleted after IMAGE_RETENTION_DAYS: the
    # task keeps its record, its answers say the images expired and their URLs answer 410.
    files_expired_at = models.DateTimeField("files deleted", null=True, blank=True)
    created_at = models.DateTimeField("created", auto_now_add=True)
    started_at = models.DateTimeField("started", null=True, blank=True)
    finished_at = models.DateTimeField("finished", null=True, blank=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

    class Meta:
        verbose_name = "task"  # of every kind: images, videos, …
        verbose_name_plural = "tasks"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "external_task_id"], name="imagetask_unique_external_id_per_user"),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="imagetask_user_created"),
            models.Index(fields=["status", "updated_at"], name="imagetask_status_updated"),
            models.Index(fields=["kind", "status"], name="imagetask_kind_status"),
            models.Index(fields=["provider", "waiting_since"], name="imagetask_waiting"),
            models.Index(fields=["provider", "queue_ticket"], name="imagetask_fair_line"),
            models.Index(fields=["user", "provider", "queue_ticket"], name="imagetask_fair_user"),
            models.Index(fields=["api_key", "provider", "queue_ticket"], name="imagetask_fair_key"),
            models.Index(fields=["provider", "status", "created_at"], name="imagetask_pending_line"),
            models.Index(fields=["outbox_since"], name="imagetask_outbox"),
            models.Index(fields=["files_expired_at", "finished_at"], name="imagetask_retention"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def output_names(self) -> list[str]:
        """The stored files of its result: images, or videos and their last frames."""
        result = self.result or {}
        names = [image["name"] for image in result.get("images", [])]
        for video in result.get("videos", []):
            names += [video["name"]] + [
                video[still]["name"] for still in ("last_frame", "thumbnail") if video.get(still)
            ]
        return names


class StoredFile(models.Model):
    """A file kept for a task (imagetasks/storage), recorded before it is written: deleting a task's
    files, and retention, find every one of them — each attempt's outputs, last frames, uploads. Not a
    foreign key: the record outlives its task's row until the file itself is deleted."""

    class Role(models.TextChoices):
        OUTPUT = "output", "made by the upstream"
        UPLOAD = "upload", "uploaded with the task"

    name = models.CharField("storage name", primary_key=True, max_length=300, db_column="_id")
    task_id = models.CharField(max_length=32)
    role = models.CharField(max_length=8, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "stored file"
        indexes = [
            models.Index(fields=["task_id"], name="storedfile_task"),
            models.Index(fields=["role", "created_at"], name="storedfile_role_created"),
        ]

    def __str__(self) -> str:
        return self.name


class CapacityCounter(models.Model):
    """How many generations run now for one provider or model (embedded-mode concurrency caps)."""

    key = models.CharField(primary_key=True, max_length=200, db_column="_id")
    in_use = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "capacity counter"

    def __str__(self) -> str:
        return f"{self.key}: {self.in_use}"


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key`: the same key with the same request returns the original task."""

    id = models.CharField(primary_key=True, max_length=64, db_column="_id")  # sha256 of the key
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the request it came with")
    task_id = models.CharField(max_length=32)
    user_id = models.CharField(max_length=64, blank=True, default="", help_text="whose task it made")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "idempotency key"
        indexes = [
            models.Index(fields=["user_id"], name="idempotency_user"),
            models.Index(fields=["created_at"], name="idempotency_created"),
        ]

    def __str__(self) -> str:
        return self.key


class WebhookDelivery(models.Model):
    """One event for one task's webhook_url, with every attempt to deliver it."""

    class DeliveryStatus(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed (gave up)"

    id = models.CharField(primary_key=True, max_length=32, default=new_id, editable=False, db_column="_id")
    task = models.ForeignKey(ImageTask, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.CharField(max_length=32)
    url = models.URLField(max_length=2048)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # [{"at", "status_code", "error", "duration_ms"}], newest last
    attempt_log = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_status_next")]

    def __str__(self) -> str:
        return f"{self.event} for {self.task_id} ({self.status})"


class UpstreamAccount(models.Model):
    """An upstream account's standing: in rotation, or taken out (automatically, when the upstream
    refused its keys, or by an operator) with the reason. Accounts themselves are configured
    (VOLCENGINE_ACCOUNTS, ARK_ACCOUNTS); a row exists once an account's standing was changed."""

    id = models.CharField(primary_key=True, max_length=100, db_column="_id", editable=False)  # provider:name
    provider = models.CharField(max_length=32)
    name = models.CharField(max_length=64)
    in_rotation = models.BooleanField(default=True)
    reason = models.TextField(blank=True, default="")
    # Which keys were refused (a hash): the account is back by itself once configured with others.
    keys_fingerprint = models.CharField(max_length=16, blank=True, default="", editable=False)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "upstream account"
        ordering = ["provider", "name"]

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}"
