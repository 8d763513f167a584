"""Development mode's signing key, kept in a project-local dot folder.

``clerk-sync dev-token`` and ``clerk-sync serve --dev`` must agree on a key across processes without any
Clerk account, so the key is written once to ``.clerk-sync/dev-signing-key.pem`` (mode 0600) in the working
directory and reused. It is trusted only by a service started with ``--dev``, which refuses non-loopback hosts.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from clerk_sync.errors import ConfigurationError
from clerk_sync.issuer import TokenIssuer

__all__ = [
    "DEV_AUTHORIZED_PARTY",
    "DEV_DIR",
    "DEV_ISSUER",
    "DEV_KID",
    "DEV_TOKEN_TTL",
    "is_loopback",
    "load_dev_issuer",
]

DEV_DIR = Path(".clerk-sync")
DEV_KID = "ins_clerk_sync_development"
DEV_ISSUER = "https://clerk-sync.development.invalid"
DEV_AUTHORIZED_PARTY = "http://127.0.0.1"
_KEY_FILE = "dev-signing-key.pem"

#: Lifetime of a ``clerk-sync dev-token`` (and the one ``serve --dev`` prints): an hour of curl, not Clerk's 60 s.
DEV_TOKEN_TTL = 3600


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine: development mode listens nowhere else."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_dev_issuer(directory: Path | None = None) -> TokenIssuer:
    """Load the development key, creating it on first use."""
    folder = directory or DEV_DIR
    path = folder / _KEY_FILE
    if path.exists():
        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{path} is not a PEM private key; delete it to make a new one") from exc
        if not isinstance(key, RSAPrivateKey):
            raise ConfigurationError(f"{path} is not an RSA key; delete it to make a new one")
        return TokenIssuer(private_key=key, kid=DEV_KID, issuer=DEV_ISSUER, azp=None)
    issuer = TokenIssuer(kid=DEV_KID, issuer=DEV_ISSUER, azp=None)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitignore").write_text("*\n")
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(issuer.private_pem())
    os.replace(temporary, path)
    return issuer
