"""A local stand-in for Clerk's token signer: mints Clerk-shaped session tokens with a key we hold.

Used by the test kit (``clerk_sync.testing``) and by development mode (``clerk-sync dev-token``). Tokens look
like Clerk's: RS256, ``kid`` = an instance id, ``exp = iat + 60``, ``nbf = iat - 10``, ``v: 2``, a ``sid``; any
claim or header can be overridden or dropped to produce the malformed tokens that tests need.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["TokenIssuer", "generate_private_key"]


def generate_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA key of the size Clerk uses."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


class TokenIssuer:
    """Signs Clerk-shaped session tokens; exposes the matching PEM and JWKS."""

    def __init__(
        self,
        *,
        private_key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        issuer: str = "https://clerk.example.lcl.dev",
        azp: str | None = "http://localhost:3000",
    ) -> None:
        self.private_key = private_key or generate_private_key()
        self.kid = kid or f"ins_{secrets.token_hex(12)}"
        self.issuer = issuer
        self.azp = azp
        self._retired: list[tuple[str, rsa.RSAPublicKey]] = []

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The key that verifies this issuer's tokens."""
        return self.private_key.public_key()

    def public_pem(self, *, armor: bool = True) -> str:
        """The PEM Clerk's Dashboard shows; ``armor=False`` strips the BEGIN/END lines as some users paste it."""
        pem = self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        if armor:
            return pem
        return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

    def private_pem(self) -> bytes:
        """The private key, for persisting a development key."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def jwks(self, *, include_retired: bool = True) -> dict[str, Any]:
        """``{"keys": [...]}`` as Clerk serves it; retired keys stay listed until dropped, as during rotation."""
        keys = [(self.kid, self.public_key)]
        if include_retired:
            keys += self._retired
        return {"keys": [_jwk(kid, key) for kid, key in keys]}

    def rotate(self, *, keep_old: bool = True, kid: str | None = None) -> None:
        """Switch to a new signing key; the old one stays in the JWKS when ``keep_old``."""
        if keep_old:
            self._retired.insert(0, (self.kid, self.public_key))
        self.private_key = generate_private_key()
        self.kid = kid or f"ins_{secrets.token_hex(12)}"

    def claims(self, sub: str, *, ttl: int = 60, now: float | None = None, **extra: Any) -> dict[str, Any]:
        """The payload ``mint`` signs: Clerk's v2 defaults plus ``extra`` (``None``-valued keys are dropped)."""
        iat = int(now if now is not None else time.time())
        payload: dict[str, Any] = {
            "azp": self.azp,
            "exp": iat + ttl,
            "fva": [0, -1],
            "iat": iat,
            "iss": self.issuer,
            "jti": secrets.token_hex(10),
            "nbf": iat - 10,
            "sid": f"sess_{secrets.token_hex(12)}",
            "sts": "active",
            "sub": sub,
            "v": 2,
        }
        payload.update(extra)
        return {k: v for k, v in payload.items() if v is not None}

    def mint(
        self,
        sub: str = "user_test",
        *,
        ttl: int = 60,
        now: float | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        algorithm: str = "RS256",
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """A signed token; ``claims``/``headers`` override defaults (value ``None`` removes a claim)."""
        payload = self.claims(sub, ttl=ttl, now=now, **dict(claims or {}))
        for name in drop:
            payload.pop(name, None)
        header = {"kid": self.kid, "typ": "JWT", **dict(headers or {})}
        header = {k: v for k, v in header.items() if v is not None}
        return jwt.encode(payload, key or self.private_key, algorithm=algorithm, headers=header)

    def mint_raw(self, payload: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """Sign an arbitrary payload exactly as given (no defaults), for malformed-claim tests."""
        header = {"kid": self.kid, "typ": "JWT", **dict(headers or {})}
        return jwt.encode(dict(payload), self.private_key, algorithm="RS256", headers=header)


def _jwk(kid: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return jwk
