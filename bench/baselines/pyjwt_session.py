"""The token check every hand-written peer shares: what Clerk's "manual JWT verification" guide has a user write.

PyJWT with the instance's PEM public key (``BENCH_JWT_KEY``, networkless), RS256 only, ``exp`` and ``sub``
required (``nbf`` and ``iat`` checked when present, as PyJWT does), and ``azp`` against the allow-list
(``BENCH_AUTHORIZED_PARTIES``), as the guide says. The key is parsed once, so no peer pays for PEM parsing;
every request pays the full RSA check: that is what such code does.
"""

import os
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

__all__ = ["SessionVerifier"]


class SessionVerifier:
    """Reads its key and allow-list once; ``claims`` answers None for a missing or bad token (the view's 401)."""

    def __init__(self) -> None:
        key = load_pem_public_key(os.environ["BENCH_JWT_KEY"].encode())  # parsed once, not per request
        if not isinstance(key, RSAPublicKey):
            raise ValueError("BENCH_JWT_KEY: not an RSA public key")
        self._key = key
        self._parties = {party for party in os.environ["BENCH_AUTHORIZED_PARTIES"].split(",") if party}

    def claims(self, authorization: str | None) -> dict[str, Any] | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=["RS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.InvalidTokenError:
            return None
        if self._parties and claims.get("azp") not in self._parties:
            return None
        return claims
