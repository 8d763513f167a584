"""Django signals for the store's writes, sent once per write after it committed.

Each is sent with ``sender`` = the user model class and the keyword arguments ``user`` (the row as written) and
``result`` (the ``clerk_sync.store.SyncResult``: action, source, changed column names). Reads (unchanged,
stale, duplicate webhooks) send nothing. A receiver that raises is logged and never fails or undoes the sync:
the write has committed by then, and the other receivers still run.

    from django.dispatch import receiver
    from clerk_sync.django.signals import user_created

    @receiver(user_created)
    def welcome(sender, user, result, **kwargs): ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

from clerk_sync.store import Action, SyncResult

__all__ = ["SIGNALS", "sender_for", "user_created", "user_deleted", "user_updated"]

_log = logging.getLogger("clerk_sync.store")

user_created = Signal()
user_updated = Signal()
user_deleted = Signal()

#: The signal each writing action sends.
SIGNALS: dict[Action, Signal] = {"created": user_created, "updated": user_updated, "deleted": user_deleted}


def sender_for(signal: Signal) -> Callable[[SyncResult[Any]], None]:
    """A ``WriteAudit`` hook that sends ``signal`` robustly: every receiver runs, each failure is logged."""

    def send(result: SyncResult[Any]) -> None:
        responses = signal.send_robust(sender=type(result.user), user=result.user, result=result)
        for receiver, response in responses:
            if isinstance(response, Exception):
                _log.error(
                    "user_%s receiver %s failed for %s",
                    result.action,
                    getattr(receiver, "__qualname__", repr(receiver)),
                    result.user.clerk_id,
                    exc_info=response,
                )

    return send
