"""Django integration: the synced model, its migration and admin, and a ``UserStore`` on the Django ORM.

Add ``"clerk_sync.django"`` to ``INSTALLED_APPS``. Nothing is imported here, so listing the app (or importing
this package from settings) never touches the app registry; import ``clerk_sync.django.models`` and
``clerk_sync.django.store`` once Django is set up.
"""

from __future__ import annotations

__all__: list[str] = []
