"""The ``clerk-sync`` command: serve the reference service, mint development tokens, migrate, backfill.

Configuration errors end the command with one line naming the variable and exit code 2, never a traceback.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Annotated

import typer
from rich.console import Console

from clerk_sync.devkeys import load_dev_issuer
from clerk_sync.errors import ClerkSyncError, ConfigurationError
from clerk_sync.settings import load_settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="clerk-sync",
    help="Clerk session tokens in, a current local user row out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
err = Console(stderr=True)
out = Console()

DEV_TOKEN_TTL = 3600


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fail(exc: ClerkSyncError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    dev: Annotated[bool, typer.Option("--dev", help="Trust the local development key (loopback only).")] = False,
) -> None:
    """Run the reference service (uvicorn, one worker)."""
    import uvicorn

    from clerk_sync.service import ServiceSettings, create_app

    if dev and not _is_loopback(host):
        raise _fail(ConfigurationError(f"--dev refuses to listen on {host}: development tokens are forgeable"))
    try:
        application = create_app(ServiceSettings(), load_settings(), dev=dev)
    except ClerkSyncError as exc:
        raise _fail(exc) from None
    if dev:
        token = load_dev_issuer().mint("user_dev_1", ttl=DEV_TOKEN_TTL, claims=_dev_profile("user_dev_1"))
        err.print(
            "[bold yellow]DEVELOPMENT MODE:[/] tokens signed by the local key in .clerk-sync/ are trusted. "
            "Never run this in production.",
            highlight=False,
        )
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host  # noqa: S104
        out.print(
            f"Try it:\n  curl -H 'Authorization: Bearer {token}' http://{shown_host}:{port}/me",
            highlight=False,
            soft_wrap=True,
        )
    uvicorn.run(application, host=host, port=port, log_level="info")


def _dev_profile(
    sub: str, email: str | None = None, first: str | None = None, last: str | None = None, image: str | None = None
) -> dict[str, object]:
    suffix = sub.removeprefix("user_")
    return {
        "email": email or f"{suffix}@example.com",
        "first_name": first or "Dev",
        "last_name": last or suffix.replace("_", " ").title(),
        "image_url": image,
    }


@app.command("dev-token")
def dev_token(
    sub: Annotated[str, typer.Option(help="Clerk user id (sub).")] = "user_dev_1",
    email: Annotated[str | None, typer.Option(help="email claim.")] = None,
    first_name: Annotated[str | None, typer.Option(help="first_name claim.")] = None,
    last_name: Annotated[str | None, typer.Option(help="last_name claim.")] = None,
    image_url: Annotated[str | None, typer.Option(help="image_url claim.")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.", min=1)] = DEV_TOKEN_TTL,
) -> None:
    """Print a token signed by the local development key (trusted only by ``serve --dev``)."""
    try:
        issuer = load_dev_issuer()
    except ClerkSyncError as exc:
        raise _fail(exc) from None
    claims = _dev_profile(sub, email, first_name, last_name, image_url)
    sys.stdout.write(issuer.mint(sub, ttl=ttl, claims=claims) + "\n")


def main() -> None:
    """Entry point of the ``clerk-sync`` script."""
    app()
