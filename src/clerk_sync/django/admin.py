"""The admin for synced users: every synced field read-only (Clerk owns them; an edit would be overwritten by the
next token or webhook), no "add" (rows come from Clerk), no delete (tombstones, never hard deletes).

``ClerkUser`` is registered unless ``CLERK_SYNC_USER_MODEL`` swapped it out; an app with its own model registers
it with ``ClerkUserAdmin`` (or a subclass that adds the app's own fields).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from clerk_sync.django.models import SYNCED_FIELDS, ClerkUser

__all__ = ["ClerkUserAdmin"]


class ClerkUserAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic in django-stubs only
    """Read-only synced fields, searchable by Clerk id and email."""

    list_display = ("clerk_id", "email", "first_name", "last_name", "updated_at", "deleted_at")
    list_filter = (("deleted_at", admin.EmptyFieldListFilter),)
    search_fields = ("clerk_id", "email")
    ordering = ("-updated_at",)
    readonly_fields = SYNCED_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Users are created by Clerk, through a token or a webhook, never here."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A hard delete would let a late ``user.created`` re-create the user; deletion happens in Clerk."""
        return False


if not ClerkUser._meta.swapped:
    admin.site.register(ClerkUser, ClerkUserAdmin)
