"""Operators' view of API users."""

from django.contrib import admin

from .models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("id", "email", "name", "created_at")
    search_fields = ("=id", "email", "name")
    readonly_fields = ("id", "created_at", "updated_at")
    ordering = ("-created_at",)
