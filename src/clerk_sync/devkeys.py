"""Development mode's signing key, kept once per user in the platform's cache directory.

``clerk-sync dev-token`` and ``clerk-sync serve --dev`` must agree on a key across processes without any
Clerk account, so the key is written once to ``dev-signing-key.pem`` (mode 0600) and reused. It lives in a
per-user place (``$CLERK_SYNC_DEV_DIR``, else ``$XDG_CACHE_HOME/clerk-sync``, ``~/.cache/clerk-sync``,
``~/Library/Caches/clerk-sync`` on macOS, ``%LOCALAPPDATA%\\clerk-sync`` on Windows), not in the working
directory: a token minted in one shell is trusted by a service started from another folder. It is trusted only
by a service started with ``--dev``, which refuses non-loopback hosts.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from clerk_sync.errors import ConfigurationError
from clerk_sync.issuer import TokenIssuer

__all__ = [
    "DEV_AUTHORIZED_PARTY",
    "DEV_DIR_ENV",
    "DEV_ISSUER",
    "DEV_KID",
    "DEV_TOKEN_TTL",
    "dev_key_dir",
    "is_loopback",
    "load_dev_issuer",
    "url_host",
]

#: Overrides where the development key lives (a project that wants its own key, or a test).
DEV_DIR_ENV = "CLERK_SYNC_DEV_DIR"
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


def dev_key_dir() -> Path:
    """The per-user folder of the development key; see the module docstring for the order."""
    override = os.environ.get(DEV_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "clerk-sync"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "clerk-sync"
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache) if cache else Path.home() / ".cache") / "clerk-sync"


def url_host(host: str) -> str:
    """``host`` as it goes into a URL: an IPv6 address in brackets (``http://[::1]:8000``), a wildcard bind
    (``0.0.0.0``, ``::``) as the loopback address a local client reaches it on."""
    if host in ("0.0.0.0", "localhost"):  # noqa: S104 (a bind address shown, not bound)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def load_dev_issuer(directory: Path | None = None) -> TokenIssuer:
    """Load the development key, creating it on first use (default folder: ``dev_key_dir()``)."""
    folder = directory or dev_key_dir()
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
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / ".gitignore").write_text("*\n")  # should someone point CLERK_SYNC_DEV_DIR into a repository
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(issuer.private_pem())
    try:
        os.link(temporary, path)  # fails if another process created the key first: then use that one
    except FileExistsError:
        return load_dev_issuer(folder)
    finally:
        temporary.unlink()
    return issuer
