"""The people (or client accounts) that image tasks belong to."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from jimeng_server.ids import new_id

USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"


WEIGHT_MAX = 100


class Tier(models.TextChoices):
    """Where a user's waiting tasks stand: `high` starts before the others, `batch` after them, yet
    it advances as they start (so never starves)."""

    HIGH = "high", "high"
    NORMAL = "normal", "normal"
    BATCH = "batch", "batch"


class User(models.Model):
    # A string key chosen by the client (the seed's examples use "user_123") or generated. Stored as
    # `_id`, so that on MongoDB it is the document's own key.
    id = models.CharField(primary_key=True, max_length=64, default=new_id, editable=False, db_column="_id")
    # Optional: users that first appear through a task carry no email until someone sets one.
    email = models.EmailField("email", max_length=254, unique=True, null=True, blank=True)
    name = models.CharField("name", max_length=200, blank=True, default="")
    # Credits (users/credits.py): the balance available (NULL: credits are off for this user), the part
    # reserved by tasks still running, and how many ledger entries these two reflect.
    credits = models.IntegerField("credit balance", null=True, blank=True)
    credits_reserved = models.IntegerField("credits reserved", default=0)
    credits_seq = models.PositiveIntegerField("ledger entries applied", default=0, editable=False)
    # Their share of the upstream when tasks wait for a slot (imagetasks/services/fair.py): a tier, and a
    # weight within it (twice the weight, twice the starts while both users wait).
    tier = models.CharField("priority tier", max_length=8, choices=Tier.choices, default=Tier.NORMAL)
    weight = models.PositiveSmallIntegerField(
        "share weight", default=1, validators=[MinValueValidator(1), MaxValueValidator(WEIGHT_MAX)]
    )
    created_at = models.DateTimeField("created", auto_now_add=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name or self.id} <{self.email}>" if self.email else (self.name or self.id)


class ApiKey(models.Model):
    """A key for the API. Stored only as a hash; `id` is its public lookup prefix. A key without a
    user is a service key: an app backend acting for any user_id."""

    id = models.CharField("prefix", primary_key=True, max_length=16, db_column="_id", editable=False)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True, default="")
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The key's share of the upstream when FAIR_SHARE_BY=key (imagetasks/services/fair.py), as a user's.
    tier = models.CharField("priority tier", max_length=8, choices=Tier.choices, default=Tier.NORMAL)
    weight = models.PositiveSmallIntegerField(
        "share weight", default=1, validators=[MinValueValidator(1), MaxValueValidator(WEIGHT_MAX)]
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"jk_{self.id}_… ({'service' if self.is_service else self.user_id})"

    @property
    def is_service(self) -> bool:
        return self.user_id is None


class UsageCounter(models.Model):
    """A counter behind a limit (tasks a user has active, tasks created today, requests of a key in
    a window), changed only by conditional single-row updates so that parallel requests cannot pass
    a limit together. `expires_at`: when a periodic job may delete it (None: kept)."""

    key = models.CharField(primary_key=True, max_length=200, db_column="_id")
    value = models.IntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "usage counter"
        indexes = [models.Index(fields=["expires_at"], name="usagecounter_expires")]

    def __str__(self) -> str:
        return f"{self.key}: {self.value}"


class CreditEntry(models.Model):
    """One line of a user's credit ledger: a grant (an operator or service key changing the balance),
    or a task's reserve, charge or release. `key` makes each at most once (a task's charge is
    "<task id>:<round>:charge"); `seq` orders a user's entries, one number each, so the user row's
    balance can be brought up to date from the ledger after a crash (users/credits.py)."""

    class Kind(models.TextChoices):
        GRANT = "grant"
        RESERVE = "reserve"
        CHARGE = "charge"
        RELEASE = "release"

    id = models.CharField(primary_key=True, max_length=32, default=new_id, editable=False, db_column="_id")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="credit_entries")
    seq = models.PositiveIntegerField()
    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.IntegerField()
    task_id = models.CharField(max_length=32, blank=True, default="")
    model = models.CharField(max_length=100, blank=True, default="")
    note = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)
    # Set on a reserve until its task's charge and release are in; the reconciler settles those a
    # crash left open. (A time, not a flag: SQLite serves no index for a bare boolean.)
    open_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "credit entry"
        verbose_name_plural = "credit ledger"
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="creditentry_unique_seq")]
        indexes = [
            models.Index(fields=["open_since"], name="creditentry_open"),
            models.Index(fields=["task_id"], name="creditentry_task"),
            models.Index(fields=["user", "kind", "at"], name="creditentry_usage"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} #{self.seq} {self.kind} {self.amount}"
