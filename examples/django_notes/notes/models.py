"""A note belongs to clerk-sync's synced user row: ``owner_id`` is ``users.id``, never the ``clerk_id`` string."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from clerk_sync.django.models import AbstractClerkUser


class Note(models.Model):
    """``on_delete=CASCADE`` only matters if you ever hard-delete a user: a ``user.deleted`` webhook tombstones the
    row (``deleted_at``), so the foreign key keeps holding and the notes stay until you purge them."""

    owner: models.ForeignKey[AbstractClerkUser, AbstractClerkUser] = models.ForeignKey(
        settings.CLERK_SYNC_USER_MODEL, on_delete=models.CASCADE, related_name="notes"
    )
    title: models.CharField[str, str] = models.CharField(max_length=200)
    body: models.TextField[str, str] = models.TextField(blank=True, default="")
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(auto_now_add=True)
    if TYPE_CHECKING:  # what Django adds for the foreign key: the user's database id
        owner_id: int

    class Meta:
        ordering = ("id",)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "owner_id": self.owner_id,
            "title": self.title,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }
