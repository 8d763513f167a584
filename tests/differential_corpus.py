"""The differential corpus: tokens of our own design that tests/test_differential.py runs through Clerk's verifier
(Node, ``tests/oracle``) and through clerk-sync.

Each case is one idea: a valid token, a time boundary, a claim that is null, absent or of the wrong type, an
algorithm or token category, a malformed structure, an encoding trick, or a token wrong in several ways at once
(to pin the order of checks). Tokens are signed byte for byte as written, so JSON nulls, ``NaN`` and odd types
reach both verifiers unchanged. ``now`` is pinned: both sides judge time claims at ``NOW``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from clerk_sync.issuer import generate_private_key
from clerk_sync.verify import TokenCategory

__all__ = [
    "ISSUER",
    "JWK_NAMES",
    "NOW",
    "PARTIES",
    "Case",
    "Options",
    "Signer",
    "build_corpus",
]

NOW = 1_800_000_000
ISSUER = "https://clerk.example.lcl.dev"
PARTIES = ("http://localhost:3000",)
KID = "ins_2GIoQhbUpy0hX7B2cVkuTMinXoD"
#: JWKs of the same RSA key that the JWKS cases name as their kid: which ``alg`` each JWK pins.
JWK_NAMES = {"jwk-rs256": "RS256", "jwk-rs512": "RS512", "jwk-no-alg": None}


@dataclass(frozen=True)
class Options:
    """The expectations both verifiers are configured with for one case."""

    authorized_parties: tuple[str, ...] = ()
    issuer: str | None = None
    clock_skew_ms: int = 5000

    def for_clerk(self) -> dict[str, Any]:
        """The same options in ``verifyToken``'s names."""
        options: dict[str, Any] = {
            "authorizedParties": list(self.authorized_parties),
            "clockSkewInMs": self.clock_skew_ms,
        }
        if self.issuer is not None:
            options["issuer"] = self.issuer
        return options


PLAIN = Options()
STRICT = Options(authorized_parties=PARTIES, issuer=ISSUER)


@dataclass(frozen=True)
class Case:
    """One token, the key it is checked against (``pem`` or a JWK name) and the verifiers' options."""

    id: str
    what: str
    token: str
    key: str = "pem"
    options: Options = field(default_factory=Options)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """Signs header and payload texts exactly as given, with the corpus's RSA key."""

    def __init__(self, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self.private_key = private_key or generate_private_key()

    def sign(
        self, header: dict[str, Any] | str | bytes, payload: dict[str, Any] | str | bytes, alg: str = "RS256"
    ) -> str:
        signing_input = f"{b64(_text(header))}.{b64(_text(payload))}"
        signature = jwt.get_algorithm_by_name(alg).sign(signing_input.encode(), self.private_key)
        return f"{signing_input}.{b64(signature)}"

    def public_pem(self) -> str:
        """The PEM that ``CLERK_JWT_KEY`` / Clerk's ``jwtKey`` hold."""
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def jwks(self) -> dict[str, dict[str, Any]]:
        """The JWKs the JWKS cases use, by name (= kid)."""
        base = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        documents = {}
        for name, alg in JWK_NAMES.items():
            jwk = {**base, "kid": name, "use": "sig"}
            if alg is not None:
                jwk["alg"] = alg
            documents[name] = jwk
        return documents


def _text(value: dict[str, Any] | str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode()


def header(**extra: Any) -> dict[str, Any]:
    """Clerk's session-token header (``alg``, ``kid``, ``typ``) plus ``extra``; a ``...`` value drops the key."""
    values = {"alg": "RS256", "kid": KID, "typ": "JWT", **extra}
    return {k: v for k, v in values.items() if v is not ...}


def claims(**extra: Any) -> dict[str, Any]:
    """Clerk's v2 session claims at ``NOW`` (exp = iat + 60, nbf = iat - 10) plus ``extra``; ``...`` drops."""
    values = {
        "azp": PARTIES[0],
        "exp": NOW + 60,
        "fva": [0, -1],
        "iat": NOW,
        "iss": ISSUER,
        "jti": "d3c4f1a2b9e8",
        "nbf": NOW - 10,
        "sid": "sess_2GbDB4enNdCa5vS1zpC3Xzg9tK9",
        "sts": "active",
        "sub": "user_2GIpXOEpVyJw51rkZn9Kmnc6Sxr",
        "v": 2,
        **extra,
    }
    return {k: v for k, v in values.items() if v is not ...}


def respell(token: str, segment: int, text: str) -> str:
    parts = token.split(".")
    parts[segment] = text
    return ".".join(parts)


def nonzero_padding_bits(segment: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]


def _with_char(signer: Signer, urlsafe: str, standard: str) -> str:
    """A valid token whose signature has ``urlsafe``, respelled in the standard alphabet."""
    for i in range(500):
        token = signer.sign(header(), claims(jti=f"spell{i}"))
        signature = token.split(".")[2]
        if urlsafe in signature:
            return respell(token, 2, signature.replace(urlsafe, standard))
    raise AssertionError(f"no signature with {urlsafe!r} in 500 tries")


def build_corpus(signer: Signer) -> list[Case]:
    """Every case, in a stable order."""
    s = signer.sign
    valid = s(header(), claims())
    h, p, sig = valid.split(".")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    unsigned = f"{b64(json.dumps(header(alg='none')).encode())}.{p}."
    hs_input = f"{b64(json.dumps(header(alg='HS256')).encode())}.{p}"
    pem = signer.public_pem().encode()
    hs_token = f"{hs_input}.{b64(hmac.new(pem, hs_input.encode(), hashlib.sha256).digest())}"
    foreign = Signer(generate_private_key())
    short_signature = b64(base64.urlsafe_b64decode(sig + "==")[:-3])
    big = "x" * 17_000

    cases = [
        # Valid tokens
        Case("valid", "a Clerk-shaped v2 session token", valid),
        Case("valid-strict-options", "valid with authorized parties and issuer configured", valid, options=STRICT),
        Case("valid-zero-skew", "valid with clock skew 0", valid, options=Options(clock_skew_ms=0)),
        Case("valid-without-typ", "no typ header (Clerk accepts it)", s(header(typ=...), claims())),
        Case("valid-without-kid", "no kid header (a PEM key is used whatever the kid)", s(header(kid=...), claims())),
        Case("valid-without-nbf", "no nbf claim (optional)", s(header(), claims(nbf=...))),
        Case("valid-without-azp", "no azp and no authorized parties configured", s(header(), claims(azp=...))),
        Case("valid-session-category", "cat = session token", s(header(cat=TokenCategory.SESSION), claims())),
        Case("valid-ignore-category", "cat = the ignore marker", s(header(cat=TokenCategory.IGNORE), claims())),
        Case(
            "valid-custom-claims",
            "custom claims from a session-token template",
            s(header(), claims(email="ada@example.com", public_metadata={"role": "admin"}, first_name=None)),
        ),
        Case(
            "valid-v1-organization",
            "a v1 token with org_* claims and no v",
            s(header(), claims(v=..., org_id="org_1", org_role="org:admin", org_slug="acme")),
        ),
        Case("valid-float-times", "exp, iat, nbf as floats", s(header(), claims(exp=NOW + 60.5, iat=NOW + 0.5))),
        Case("valid-huge-exp", "exp far beyond any date (both accept)", s(header(), claims(exp=1e20))),
        # Time boundaries (skew 5000 ms unless noted)
        Case("exp-at-skew-edge", "exp = now - 5 s: expired (<=)", s(header(), claims(exp=NOW - 5))),
        Case("exp-inside-skew", "exp = now - 4 s: still valid", s(header(), claims(exp=NOW - 4))),
        Case("exp-fraction-truncated", "exp = now - 4.5 s counts as now - 5 s", s(header(), claims(exp=NOW - 4.5))),
        Case("exp-now", "exp = now: valid within the skew", s(header(), claims(exp=NOW))),
        Case("nbf-at-skew-edge", "nbf = now + 5 s: valid (>)", s(header(), claims(nbf=NOW + 5, iat=NOW - 10))),
        Case("nbf-past-skew", "nbf = now + 6 s: not active yet", s(header(), claims(nbf=NOW + 6, iat=NOW - 10))),
        Case("nbf-fraction-truncated", "nbf = now + 5.9 s counts as now + 5 s", s(header(), claims(nbf=NOW + 5.9))),
        Case("iat-at-skew-edge", "iat = now + 5 s: valid", s(header(), claims(iat=NOW + 5, nbf=...))),
        Case("iat-past-skew", "iat = now + 6 s: in the future", s(header(), claims(iat=NOW + 6, nbf=...))),
        Case(
            "zero-skew-exp-now",
            "skew 0, exp = now: expired",
            s(header(), claims(exp=NOW)),
            options=Options(clock_skew_ms=0),
        ),
        Case(
            "zero-skew-exp-next-second",
            "skew 0, exp = now + 1",
            s(header(), claims(exp=NOW + 1)),
            options=Options(clock_skew_ms=0),
        ),
        Case(
            "wide-skew-expired-20s",
            "skew 30 s accepts a token expired 20 s ago",
            s(header(), claims(exp=NOW - 20)),
            options=Options(clock_skew_ms=30_000),
        ),
        Case("exp-before-any-date", "exp = -1e20 (Clerk: Invalid Date passes)", s(header(), claims(exp=-1e20))),
        Case("nbf-after-any-date", "nbf = 1e20 (Clerk: Invalid Date passes)", s(header(), claims(nbf=1e20))),
        Case(
            "exp-infinite",
            "exp = 1e400, which both JSON parsers read as Infinity",
            s(header(), json.dumps(claims())[:-1] + ', "exp": 1e400}'),
        ),
        # Claims: null, absent, wrong type
        Case("exp-absent", "no exp", s(header(), claims(exp=...))),
        Case("exp-null", "exp: null", s(header(), claims(exp=None))),
        Case("exp-string", 'exp: "1800000060"', s(header(), claims(exp=str(NOW + 60)))),
        Case("exp-boolean", "exp: true", s(header(), claims(exp=True))),
        Case("nbf-null", "nbf: null", s(header(), claims(nbf=None))),
        Case("nbf-string", "nbf: a string", s(header(), claims(nbf="yesterday"))),
        Case("iat-null", "iat: null", s(header(), claims(iat=None))),
        Case("iat-absent", "no iat (Clerk: optional)", s(header(), claims(iat=...))),
        Case("iat-list", "iat: a list", s(header(), claims(iat=[NOW]))),
        Case("sub-absent", "no sub", s(header(), claims(sub=...))),
        Case("sub-null", "sub: null", s(header(), claims(sub=None))),
        Case("sub-number", "sub: 42", s(header(), claims(sub=42))),
        Case("sub-empty", 'sub: "" (Clerk: any string)', s(header(), claims(sub=""))),
        Case("azp-absent", "no azp with authorized parties", s(header(), claims(azp=...)), options=STRICT),
        Case("azp-null", "azp: null with authorized parties", s(header(), claims(azp=None)), options=STRICT),
        Case("azp-empty", 'azp: "" with authorized parties', s(header(), claims(azp="")), options=STRICT),
        Case(
            "azp-suffix-trick",
            "azp that starts like an allowed party",
            s(header(), claims(azp=PARTIES[0] + ".evil.com")),
            options=STRICT,
        ),
        Case("azp-number", "azp: 3000", s(header(), claims(azp=3000)), options=STRICT),
        Case("iss-absent", "no iss with an issuer configured", s(header(), claims(iss=...)), options=STRICT),
        Case("iss-null", "iss: null with an issuer configured", s(header(), claims(iss=None)), options=STRICT),
        Case(
            "iss-other-instance",
            "another instance's iss",
            s(header(), claims(iss="https://clerk.other.dev")),
            options=STRICT,
        ),
        Case(
            "iss-unchecked", "another iss with no issuer configured", s(header(), claims(iss="https://clerk.other.dev"))
        ),
        Case("typ-null", "typ: null", s(header(typ=None), claims())),
        Case("typ-lowercase", 'typ: "jwt"', s(header(typ="jwt"), claims())),
        Case("typ-number", "typ: 7", s(header(typ=7), claims())),
        Case("cat-null", "cat: null", s(header(cat=None), claims())),
        Case("kid-null", "kid: null (Clerk ignores kid with a PEM key)", s(header(kid=None), claims())),
        Case("kid-number", "kid: 7", s(header(kid=7), claims())),
        # Algorithms and token categories
        Case("rs384-against-pem", "RS384 header and signature, PEM key", s(header(alg="RS384"), claims(), "RS384")),
        Case("rs512-against-pem", "RS512 header and signature, PEM key", s(header(alg="RS512"), claims(), "RS512")),
        Case(
            "rs384-header-rs256-signature",
            "header says RS384, signature is RS256",
            s(header(alg="RS384"), claims(), "RS256"),
        ),
        Case("alg-none", "an unsigned token", unsigned),
        Case("alg-hs256-pem-as-secret", "HS256 keyed with the public PEM (algorithm confusion)", hs_token),
        Case(
            "alg-es256", "a real ES256 signature", jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": KID})
        ),
        Case("alg-ps256", "PS256 (RSA-PSS) signature", s(header(alg="PS256"), claims(), "PS256")),
        Case("alg-lowercase", 'alg: "rs256"', s(header(alg="rs256"), claims())),
        Case("alg-absent", "no alg", s(header(alg=...), claims())),
        Case("alg-list", 'alg: ["RS256"]', s(header(alg=["RS256"]), claims())),
        Case("cat-machine", "cat = M2M token", s(header(cat=TokenCategory.MACHINE), claims())),
        Case("cat-template", "cat = JWT template", s(header(cat=TokenCategory.TEMPLATE), claims())),
        Case("cat-unknown", "an unknown cat", s(header(cat="cl_Z0000000000ZZZ"), claims())),
        Case("typ-oauth-access-token", "typ: at+jwt", s(header(typ="at+jwt"), claims())),
        Case("typ-oauth-media-type", "typ: application/at+jwt", s(header(typ="application/at+jwt"), claims())),
        Case("typ-oauth-uppercase", "typ: AT+JWT (not an OAuth type: exact match)", s(header(typ="AT+JWT"), claims())),
        Case("machine-subject", "sub mch_... (an M2M machine)", s(header(), claims(sub="mch_2x"))),
        Case(
            "machine-subject-forged",
            "sub mch_... with a forged signature",
            foreign.sign(header(), claims(sub="mch_2x")),
        ),
        Case("pending-session", "sts: pending", s(header(), claims(sts="pending"))),
        # Signatures
        Case("foreign-key", "signed by another key", foreign.sign(header(), claims())),
        Case(
            "tampered-payload",
            "payload changed after signing",
            f"{h}.{b64(json.dumps(claims(sub='user_admin')).encode())}.{sig}",
        ),
        Case("empty-signature", "signature segment empty", f"{h}.{p}."),
        Case("short-signature", "three bytes cut off the signature", f"{h}.{p}.{short_signature}"),
        Case(
            "expired-and-forged",
            "expired and a forged signature: the signature first",
            foreign.sign(header(), claims(exp=NOW - 3600)),
        ),
        Case(
            "azp-wrong-and-forged",
            "wrong azp and a forged signature",
            foreign.sign(header(), claims(azp="https://evil.dev")),
            options=STRICT,
        ),
        # Malformed structures
        Case("empty-string", "an empty token", ""),
        Case("one-part", "no dots", "abc"),
        Case("two-parts", "one dot", f"{h}.{p}"),
        Case("four-parts", "three dots", f"{valid}.{sig}"),
        Case("header-not-base64", "header segment !!!", f"!!!.{p}.{sig}"),
        Case("header-not-json", "header is base64 of non-JSON", f"{b64(b'{alg: RS256}')}.{p}.{sig}"),
        Case("payload-not-json", "payload is base64 of non-JSON", s(header(), b"{sub: user_1}")),
        Case("header-array", "header is a JSON array", s(b"[]", claims())),
        Case("header-null", "header is JSON null", s(b"null", claims())),
        Case("payload-array", "payload is a JSON array", s(header(), b"[1, 2]")),
        Case("payload-null", "payload is JSON null", s(header(), b"null")),
        Case("payload-string", "payload is a JSON string", s(header(), b'"user_1"')),
        Case("oversized", "a valid token over 16 KiB (a huge custom claim)", s(header(), claims(blob=big))),
        # Strict JSON
        Case("payload-nan", "exp: NaN", s(header(), json.dumps(claims())[:-1] + ', "exp": NaN}')),
        Case("payload-infinity", "exp: Infinity", s(header(), json.dumps(claims())[:-1] + ', "exp": Infinity}')),
        Case(
            "payload-minus-infinity", "nbf: -Infinity", s(header(), json.dumps(claims())[:-1] + ', "nbf": -Infinity}')
        ),
        Case("header-nan", "a header parameter NaN", s(json.dumps(header())[:-1] + ', "x": NaN}', claims())),
        Case(
            "payload-byte-order-mark",
            "payload starts with a UTF-8 BOM",
            s(header(), b"\xef\xbb\xbf" + json.dumps(claims()).encode()),
        ),
        Case(
            "payload-invalid-utf8",
            "a claim with a byte that is not UTF-8",
            s(header(), json.dumps(claims())[:-1].encode() + b', "x": "\xff"}'),
        ),
        Case(
            "duplicate-exp",
            "exp twice, the last one expired (both parsers keep the last)",
            s(header(), json.dumps(claims())[:-1] + f', "exp": {NOW - 3600}}}'),
        ),
        # Encoding tricks
        Case("signature-plus", "signature in the standard alphabet (+)", _with_char(signer, "-", "+")),
        Case("signature-slash", "signature in the standard alphabet (/)", _with_char(signer, "_", "/")),
        Case(
            "signature-padding-bits",
            "signature with non-zero padding bits",
            respell(valid, 2, nonzero_padding_bits(sig)),
        ),
        Case("signature-stray-character", "a ! inside the signature", respell(valid, 2, sig[:50] + "!" + sig[50:])),
        Case("signature-padded", "signature with = padding", respell(valid, 2, sig + "=" * (-len(sig) % 4))),
        Case("signature-newline", "a newline inside the signature", respell(valid, 2, sig[:50] + "\n" + sig[50:])),
        Case("header-padded", "header segment with = padding", respell(valid, 0, h + "=" * (-len(h) % 4 or 4))),
        Case("payload-padded", "payload segment with = padding", respell(valid, 1, p + "=" * (-len(p) % 4 or 4))),
        Case(
            "payload-impossible-length",
            "payload segment one character too long",
            respell(valid, 1, p + "A" * ((1 - len(p)) % 4 or 4)),
        ),
        Case("trailing-space", "a space after the token", valid + " "),
        # JWS extensions
        Case("crit-unknown", "crit names an extension nobody implements", s(header(crit=["exp"], exp=NOW), claims())),
        Case("b64-false", "b64: false with crit [b64] (RFC 7797)", s(header(crit=["b64"], b64=False), claims())),
        # Several faults at once: the first check Clerk runs names the code
        Case(
            "order-azp-before-iss",
            "wrong azp and wrong iss",
            s(header(), claims(azp="https://evil.dev", iss="https://clerk.other.dev")),
            options=STRICT,
        ),
        Case(
            "order-iss-before-exp",
            "wrong iss and expired",
            s(header(), claims(iss="https://clerk.other.dev", exp=NOW - 3600)),
            options=STRICT,
        ),
        Case(
            "order-sub-before-azp",
            "no sub and wrong azp",
            s(header(), claims(sub=..., azp="https://evil.dev")),
            options=STRICT,
        ),
        Case("order-exp-before-nbf", "expired and not active yet", s(header(), claims(exp=NOW - 3600, nbf=NOW + 3600))),
        Case(
            "order-nbf-before-iat",
            "not active yet and issued in the future",
            s(header(), claims(nbf=NOW + 3600, iat=NOW + 3600)),
        ),
        Case(
            "order-category-before-alg",
            "template category and alg none",
            f"{b64(json.dumps(header(alg='none', cat=TokenCategory.TEMPLATE)).encode())}.{p}.",
        ),
        Case("order-typ-before-alg", "wrong typ and wrong alg", s(header(typ="JWS", alg="ES256"), claims())),
        Case("order-machine-before-typ", "mch_ subject and wrong typ", s(header(typ="JWS"), claims(sub="mch_2x"))),
        Case(
            "order-signature-before-claims",
            "RS384 against the PEM key and expired",
            s(header(alg="RS384"), claims(exp=NOW - 3600), "RS384"),
        ),
        Case(
            "order-decode-before-header",
            "undecodable payload and alg none",
            f"{b64(json.dumps(header(alg='none')).encode())}.{b64(b'{nope')}.",
        ),
        Case(
            "order-alg-before-signature",
            "alg none with a forged signature",
            f"{b64(json.dumps(header(alg='none')).encode())}.{p}.{sig}",
        ),
        # JWKS keys keep the alg their JWK names (Clerk: verifyJwt with that JWK)
        Case("jwk-rs256-rs256", "JWK alg RS256, token RS256", s(header(kid="jwk-rs256"), claims()), key="jwk-rs256"),
        Case(
            "jwk-rs256-rs384",
            "JWK alg RS256, token RS384",
            s(header(kid="jwk-rs256", alg="RS384"), claims(), "RS384"),
            key="jwk-rs256",
        ),
        Case(
            "jwk-rs512-rs512",
            "JWK alg RS512, token RS512",
            s(header(kid="jwk-rs512", alg="RS512"), claims(), "RS512"),
            key="jwk-rs512",
        ),
        Case("jwk-rs512-rs256", "JWK alg RS512, token RS256", s(header(kid="jwk-rs512"), claims()), key="jwk-rs512"),
        Case(
            "jwk-no-alg-rs384",
            "JWK without alg, token RS384",
            s(header(kid="jwk-no-alg", alg="RS384"), claims(), "RS384"),
            key="jwk-no-alg",
        ),
        Case(
            "jwk-no-alg-rs512",
            "JWK without alg, token RS512",
            s(header(kid="jwk-no-alg", alg="RS512"), claims(), "RS512"),
            key="jwk-no-alg",
        ),
        Case(
            "jwk-expired",
            "JWK alg RS256, expired token",
            s(header(kid="jwk-rs256"), claims(exp=NOW - 3600)),
            key="jwk-rs256",
        ),
    ]
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases
