"""pytest for examples/ (part of `make test`): each example is a package of its own (``fastapi_notes``,
``flask_notes``, ...), so their modules never clash. ``django_notes`` is left to its own run
(``cd examples/django_notes && pytest``): Django's settings are process-wide and tests/django configures others."""

collect_ignore = ["django_notes"]
