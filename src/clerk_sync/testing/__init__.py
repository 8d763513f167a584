"""Test kit for apps built on clerk-sync: mint Clerk-shaped tokens, serve their JWKS, sign webhooks."""
