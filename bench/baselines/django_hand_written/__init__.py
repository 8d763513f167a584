"""Django peer (b): the view people write by hand: verify with PyJWT, then ``get_or_create`` by ``clerk_id``
with the ORM, on the same table and database as clerk-sync (the ``users`` table of ``clerk-sync db upgrade
--framework django``). A small project of its own:
``DJANGO_SETTINGS_MODULE=bench.baselines.django_hand_written.settings``.
"""
