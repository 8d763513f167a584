"""The verified identity: a frozen, typed view of a Clerk session token's payload.

Nothing past the verifier sees a raw ``dict``: v1 (``org_*``) and v2 (``o``, ``fea``) organization claims are
normalised here into one ``OrganizationClaims``, so apps never branch on the token version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["STANDARD_CLAIMS", "OrganizationClaims", "SessionClaims"]

#: Claims Clerk sets on every session token; everything else in the payload is a custom claim.
STANDARD_CLAIMS = frozenset(
    {
        "act",
        "azp",
        "exp",
        "fea",
        "fva",
        "iat",
        "iss",
        "jti",
        "nbf",
        "o",
        "org_id",
        "org_permissions",
        "org_role",
        "org_slug",
        "pla",
        "sid",
        "sts",
        "sub",
        "v",
        "aud",
    }
)


@dataclass(frozen=True, slots=True)
class OrganizationClaims:
    """The active organization, the same shape for v1 and v2 tokens."""

    id: str
    slug: str | None
    role: str | None
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """A verified session token. ``custom`` holds the claims added by the app's session-token template."""

    sub: str
    iat: int
    exp: int
    sid: str | None = None
    iss: str | None = None
    azp: str | None = None
    nbf: int | None = None
    jti: str | None = None
    version: int = 1
    session_status: str | None = None
    factor_verification_age: tuple[int, int] | None = None
    organization: OrganizationClaims | None = None
    actor: Mapping[str, Any] | None = None
    custom: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @property
    def user_id(self) -> str:
        """Clerk's user id (``sub``), the key of the local user row."""
        return self.sub

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SessionClaims:
        """Build from a payload whose signature and time claims the verifier has already checked."""
        version = payload.get("v")
        return cls(
            sub=payload["sub"],
            iat=_int(payload.get("iat")) or 0,
            exp=_int(payload.get("exp")) or 0,
            sid=_str(payload.get("sid")),
            iss=_str(payload.get("iss")),
            azp=_str(payload.get("azp")),
            nbf=_int(payload.get("nbf")),
            jti=_str(payload.get("jti")),
            version=version if isinstance(version, int) and not isinstance(version, bool) else 1,
            session_status=_str(payload.get("sts")),
            factor_verification_age=_fva(payload.get("fva")),
            organization=_organization(payload),
            actor=MappingProxyType(dict(act)) if isinstance(act := payload.get("act"), dict) else None,
            custom=MappingProxyType({k: v for k, v in payload.items() if k not in STANDARD_CLAIMS}),
            raw=MappingProxyType(dict(payload)),
        )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _fva(value: object) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2 and all(_int(v) is not None for v in value):
        return (int(value[0]), int(value[1]))
    return None


def _organization(payload: Mapping[str, Any]) -> OrganizationClaims | None:
    """v2 carries ``o`` (+ ``fea`` bitmasks), v1 carries flat ``org_*`` claims; both become one shape."""
    org = payload.get("o")
    if isinstance(org, dict) and isinstance(org.get("id"), str):
        role = _str(org.get("rol"))
        return OrganizationClaims(
            id=org["id"],
            slug=_str(org.get("slg")),
            role=f"org:{role}" if role else None,
            permissions=_v2_permissions(_str(payload.get("fea")), _str(org.get("per")), _str(org.get("fpm"))),
        )
    org_id = payload.get("org_id")
    if isinstance(org_id, str):
        perms = payload.get("org_permissions")
        return OrganizationClaims(
            id=org_id,
            slug=_str(payload.get("org_slug")),
            role=_str(payload.get("org_role")),
            permissions=tuple(p for p in perms if isinstance(p, str)) if isinstance(perms, list) else (),
        )
    return None


def _v2_permissions(features: str | None, permissions: str | None, masks: str | None) -> tuple[str, ...]:
    """Decode ``o.fpm``: one bitmask per ``fea`` entry over ``o.per``, least significant bit first."""
    if not features or not permissions or not masks:
        return ()
    perms = permissions.split(",")
    result: list[str] = []
    for feature, mask_text in zip(features.split(","), masks.split(","), strict=False):
        scope, _, name = feature.partition(":")
        if "o" not in scope or not name or not mask_text.strip().isdigit():
            continue
        mask = int(mask_text)
        result.extend(f"org:{name}:{perm}" for bit, perm in enumerate(perms) if mask >> bit & 1)
    return tuple(result)
