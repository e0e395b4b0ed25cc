"""Operators' view of tasks: find by id, external id, user email or prompt; see the image or play the
video; retry or cancel."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from jimeng_server.errors import DomainError

from . import services
from .capacity import capacity
from .models import ImageTask, UpstreamAccount, WebhookDelivery
from .services import webhook_redeliver
from .storage import file_url


class _LastAttempt:
    @admin.display(description="last attempt")
    def last_attempt(self, delivery):
        if not delivery.attempt_log:
            return "-"
        last = delivery.attempt_log[-1]
        return f"{last['at']}: {last['error'] or 'HTTP ' + str(last['status_code'])}"


class WebhookDeliveryInline(_LastAttempt, admin.TabularInline):
    model = WebhookDelivery
    fields = ("event", "status", "attempts", "last_attempt", "delivered_at", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


def _link(model_name: str, pk: str, text: str):
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{model_name}_change", args=[pk]), text)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_LastAttempt, admin.ModelAdmin):
    list_display = ("id", "event", "status", "task_link", "attempts", "last_attempt", "created_at")
    list_filter = ("status", "event")
    search_fields = ("=id", "=task__id", "url")
    ordering = ("-created_at",)
    actions = ("redeliver",)
    readonly_fields = (
        "id",
        "task",
        "event",
        "url",
        "status",
        "attempts",
        "attempt_log",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "payload",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="task", ordering="task")
    def task_link(self, delivery):
        return _link("imagetasks_imagetask", delivery.task_id, delivery.task_id)

    @admin.action(description="Redeliver selected webhooks now")
    def redeliver(self, request, queryset):
        for delivery in queryset:
            webhook_redeliver(delivery_id=delivery.pk)
        self.message_user(request, f"Redelivering {queryset.count()} webhook(s).", messages.SUCCESS)


@admin.register(ImageTask)
class ImageTaskAdmin(admin.ModelAdmin):
    # What an operator scans for on a laptop screen; the id, provider and timings are one click away.
    list_display = ("thumbnail", "short_prompt", "status", "user_link", "model", "age")
    list_display_links = ("thumbnail", "short_prompt")
    list_filter = ("status", "kind", "provider", "model", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("=id", "=external_task_id", "user__email", "=user__id", "prompt")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    actions = ("retry_tasks", "cancel_tasks")
    inlines = (WebhookDeliveryInline,)
    readonly_fields = (
        "webhook_url",
        "id",
        "user",
        "external_task_id",
        "status",
        "kind",
        "provider",
        "model",
        "prompt",
        "params",
        "upstream_task_id",
        "attempts",
        "attempts_limit",
        "error_code",
        "error_message",
        "images",
        "result",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
        "next_attempt_at",
        "lease_expires_at",
    )
    fieldsets = (
        (
            None,
            {"fields": ("id", "status", "kind", "user", "external_task_id", "provider", "model", "prompt", "params")},
        ),
        ("Outcome", {"fields": ("images", "error_code", "error_message", "upstream_task_id", "result", "webhook_url")}),
        (
            "Timing",
            {
                "fields": (
                    "attempts",
                    "attempts_limit",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "updated_at",
                    "next_attempt_at",
                    "lease_expires_at",
                )
            },
        ),
    )

    def has_add_permission(self, request):
        return False  # tasks are created through the API

    def has_change_permission(self, request, obj=None):
        return False  # status changes go through the retry and cancel actions

    @admin.display(description="user", ordering="user")
    def user_link(self, task):
        return _link("users_user", task.user_id, task.user_id)

    @admin.display(description="prompt")
    def short_prompt(self, task):
        return task.prompt if len(task.prompt) <= 40 else task.prompt[:39] + "…"

    @admin.display(description="age", ordering="-created_at")
    def age(self, task):
        return timesince(task.created_at, depth=1)

    @admin.display(description="image / video")
    def thumbnail(self, task):
        videos = (task.result or {}).get("videos") or []
        if videos:
            return format_html(
                '<video src="{}" muted preload="metadata" style="max-height:48px;max-width:96px"></video>',
                file_url(videos[0]["name"]),
            )
        if not task.output_names:
            return "-"
        return format_html(
            '<img src="{}" style="max-height:48px;max-width:96px" alt="">', file_url(task.output_names[0])
        )

    @admin.display(description="images / video")
    def images(self, task):
        videos = (task.result or {}).get("videos") or []
        if videos:  # a player, not a link
            return format_html_join(
                "",
                '<video src="{}" controls muted loop preload="metadata" style="max-width:640px;margin:4px"></video>',
                ((file_url(video["name"]),) for video in videos),
            )
        if not task.output_names:
            return "-"
        return format_html_join(
            "",
            '<a href="{0}"><img src="{0}" style="max-width:384px;max-height:384px;margin:4px" alt=""></a>',
            ((file_url(name),) for name in task.output_names),
        )

    def _apply(self, request, queryset, service, verb):
        done, refused = 0, []
        for task in queryset:
            try:
                service(task_id=task.pk)
                done += 1
            except DomainError as error:
                refused.append(error.message)
        if done:
            self.message_user(request, f"{verb} {done} task(s).", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description="Retry selected tasks (failed or canceled)")
    def retry_tasks(self, request, queryset):
        self._apply(request, queryset, services.task_retry, "Retried")

    @admin.action(description="Cancel selected tasks (pending or processing)")
    def cancel_tasks(self, request, queryset):
        self._apply(request, queryset, services.task_cancel, "Canceled")


@admin.register(UpstreamAccount)
class UpstreamAccountAdmin(admin.ModelAdmin):
    """The upstream accounts (configured in VOLCENGINE_ACCOUNTS / ARK_ACCOUNTS; keys never shown): in
    rotation or not, why, and what runs on each."""

    list_display = ("id", "provider", "name", "in_rotation", "reason", "changed_at", "in_flight")
    list_filter = ("provider", "in_rotation")
    readonly_fields = ("id", "provider", "name", "in_rotation", "reason", "changed_at")
    actions = ("put_back", "take_out")

    def changelist_view(self, request, extra_context=None):
        services.accounts_rows_sync()
        return super().changelist_view(request, extra_context)

    @admin.display(description="in flight")
    def in_flight(self, account):
        try:
            return capacity().account_in_use(account.provider, account.name)
        except Exception:  # noqa: BLE001 - Redis away
            return "?"

    def has_add_permission(self, request):
        return False

    @admin.action(description="Put selected accounts back in rotation")
    def put_back(self, request, queryset):
        count = sum(
            services.account_restore(provider=a.provider, name=a.name, by=f"operator {request.user}") for a in queryset
        )
        self.message_user(request, f"Put {count} account(s) back in rotation.", messages.SUCCESS)

    @admin.action(description="Take selected accounts out of rotation")
    def take_out(self, request, queryset):
        for account in queryset:
            services.account_take_out(
                provider=account.provider, name=account.name, reason=f"taken out by operator {request.user}"
            )
        self.message_user(request, f"Took {queryset.count()} account(s) out of rotation.", messages.SUCCESS)
