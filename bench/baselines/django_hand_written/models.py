"""The app's user model, on the ``users`` table clerk-sync's migrations create (so both sides read one row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models

__all__ = ["ClerkUser"]


class ClerkUser(models.Model):
    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    clerk_id: models.CharField[str, str] = models.CharField(max_length=255, unique=True)
    email: models.TextField[str | None, str | None] = models.TextField(null=True)
    first_name: models.TextField[str | None, str | None] = models.TextField(null=True)
    last_name: models.TextField[str | None, str | None] = models.TextField(null=True)
    image_url: models.TextField[str | None, str | None] = models.TextField(null=True)
    public_metadata: models.JSONField[Any, Any] = models.JSONField(default=dict)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(auto_now_add=True)
    updated_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "users"
        managed = False  # the table is clerk-sync's (``clerk-sync db upgrade --framework django``)
