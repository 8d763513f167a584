"""clerk-sync's ``manage.py`` commands (Django finds them under ``commands/``)."""
