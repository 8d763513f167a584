"""An app's own models built on ``AbstractClerkUser``: one with extra columns, one that is ``AUTH_USER_MODEL``."""
