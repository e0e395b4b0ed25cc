"""Operators' view of API users."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from .credits import credits_set
from .keys import api_key_create, api_key_revoke, api_key_share_set
from .models import ApiKey, CreditEntry, User


class UserForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("email", "name", "credits", "tier", "weight")
        help_texts = {"credits": "The credit balance. Changing it records a grant in the ledger; empty: credits off."}


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    form = UserForm
    list_display = ("id", "email", "name", "credits", "credits_reserved", "tier", "weight", "created_at", "tasks")
    list_filter = ("tier",)
    search_fields = ("=id", "email", "name")
    readonly_fields = ("id", "credits_reserved", "created_at", "updated_at", "ledger")
    ordering = ("-created_at",)

    def save_model(self, request, obj, form, change):
        balance = form.cleaned_data.get("credits")
        before = User.objects.filter(pk=obj.pk).values_list("credits", flat=True).first() if change else None
        obj.credits = before  # the balance changes only through the ledger
        super().save_model(request, obj, form, change)
        if balance is not None and balance != before:
            credits_set(user_id=obj.pk, balance=balance, note=f"set by operator {request.user}")

    @admin.display(description="ledger")
    def ledger(self, user):
        url = reverse("admin:users_creditentry_changelist") + "?" + urlencode({"user__id__exact": user.pk})
        return format_html('<a href="{}">credit ledger →</a>', url)

    @admin.display(description="tasks")
    def tasks(self, user):
        url = reverse("admin:imagetasks_imagetask_changelist") + "?" + urlencode({"user__id__exact": user.pk})
        return format_html('<a href="{}">tasks →</a>', url)


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("user", "name", "tier", "weight")
        help_texts = {
            "user": "Leave empty for a service key, which may act for any user.",
            "tier": "Its share of the upstream when FAIR_SHARE_BY=key (else its user's counts).",
        }


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("id", "user", "service", "name", "tier", "weight", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "tier")
    search_fields = ("=id", "=user__id", "name")
    readonly_fields = ("id", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    @admin.display(boolean=True)
    def service(self, key):
        return key.is_service

    def get_readonly_fields(self, request, obj=None):
        made = ("user", "name") if obj is not None else ()  # a key is made and revoked; only its share changes
        return (*self.readonly_fields, *made)

    def save_model(self, request, obj, form, change):
        if change:
            api_key_share_set(key_id=obj.pk, tier=obj.tier, weight=obj.weight)
            return
        key, secret = api_key_create(user_id=obj.user_id, name=obj.name, tier=obj.tier, weight=obj.weight)
        obj.pk = key.pk
        self.message_user(request, f"The new key is {secret} — copy it now, it is not shown again.", messages.WARNING)

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key_id=key.pk)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)


@admin.register(CreditEntry)
class CreditEntryAdmin(admin.ModelAdmin):
    """Every grant, reserve, charge and release, with its task and time. Read-only: the ledger is
    written by the server (users/credits.py)."""

    list_display = ("at", "user", "seq", "kind", "amount", "model", "task_id", "note", "open_since")
    list_filter = ("kind", "model")
    search_fields = ("=user__id", "=task_id")
    ordering = ("-at",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
