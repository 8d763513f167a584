"""What an app writes to own its synced model (the README's recipe, verbatim in spirit)."""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models

from clerk_sync.django.models import AbstractClerkUser

__all__ = ["Account", "Member"]


class Member(AbstractClerkUser):
    """An app model with columns of its own, which the store must fill with their defaults on insert."""

    plan: models.CharField[str, str] = models.CharField(max_length=20, default="free")
    nickname: models.CharField[str, str] = models.CharField(max_length=40, blank=True, default="")
    team: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)

    objects: ClassVar[models.Manager[Member]] = models.Manager()

    class Meta:
        db_table = "members"


class Account(AbstractBaseUser, AbstractClerkUser):
    """A custom ``AUTH_USER_MODEL``: Django's auth machinery over the synced row."""

    USERNAME_FIELD = "clerk_id"

    objects: ClassVar[BaseUserManager[Account]] = BaseUserManager()

    class Meta:
        db_table = "accounts"
