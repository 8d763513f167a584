"""clerk-sync: verify Clerk session tokens and keep a local user row current on every request."""

from __future__ import annotations

__version__ = "0.1.0"
