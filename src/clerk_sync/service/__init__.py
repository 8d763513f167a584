"""The reference service: what an app built on clerk-sync looks like, runnable with ``clerk-sync serve``."""

from clerk_sync.service.app import create_app
from clerk_sync.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
