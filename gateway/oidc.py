"""OIDC / HelseID-style access tokens: JWTs checked against a JWKS, with optional DPoP.

Checks: signature (a key from the JWKS, by ``kid``; RS256/ES256/PS256 only), ``iss``, ``aud``,
``exp``, ``nbf``, ``iat``; with ``require_dpop`` also a DPoP proof (RFC 9449 §4.3): ``typ``
``dpop+jwt``, a public ``jwk`` in the header that signed it, ``htm``/``htu`` equal to the
request, ``iat`` within ``DPOP_MAX_AGE_S``, ``jti`` never seen before (replay cache), ``ath`` the
hash of the access token, and the token's ``cnf.jkt`` equal to the key's thumbprint (RFC 7638).
The role comes from a claim (``helserom_role``: specialist or gp). Pure: keys are passed in;
fetching a JWKS URL happens only when configured (``load_jwks``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKSet

ALGORITHMS = ("RS256", "ES256", "PS256")
ROLES = ("specialist", "gp")
DPOP_MAX_AGE_S = 60.0
LEEWAY_S = 30.0
JTI_CACHE = 10_000


class TokenError(Exception):
    """An access token or DPoP proof that is refused; the message says why."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a valid token speaks for."""

    subject: str
    role: str
    claims: dict[str, Any]


def load_jwks(file: Path | None = None, url: str | None = None, timeout_s: float = 5.0) -> PyJWKSet:
    """The key set from a file, or fetched once from ``url`` (only when configured)."""
    if file is not None:
        data = file.read_text(encoding="utf-8")
    elif url is not None:
        if not url.startswith("https://"):
            raise TokenError(f"JWKS URL {url!r} is not https")
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                data = response.read().decode()
        except OSError as exc:
            raise TokenError(f"JWKS URL {url!r} unreachable: {exc}") from None
    else:
        raise TokenError("no JWKS configured")
    try:
        return PyJWKSet.from_json(data)
    except jwt.PyJWTError as exc:
        raise TokenError(f"JWKS unusable: {exc}") from None


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url without padding."""
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }
    try:
        members = {k: jwk[k] for k in required[jwk["kty"]]}
    except KeyError as exc:
        raise TokenError(f"DPoP jwk lacks {exc}") from None
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return _b64(hashlib.sha256(canonical).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OidcValidator:
    """Validates bearer JWTs (and DPoP proofs) for one issuer and audience."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks: PyJWKSet,
        *,
        require_dpop: bool = False,
        role_claim: str = "helserom_role",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.require_dpop = require_dpop
        self.role_claim = role_claim
        self._clock = clock
        self._seen_jti: OrderedDict[str, float] = OrderedDict()

    def validate(
        self, token: str, *, dpop: str | None = None, method: str = "GET", url: str = ""
    ) -> Identity:
        """The identity behind ``token``; raises TokenError naming the failed check."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"not a JWT: {exc}") from None
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"access token refused: {exc}") from None
        # pyjwt checks nbf only if present; now also guard against a far-future iat
        if claims.get("iat", 0) > self._clock() + LEEWAY_S:
            raise TokenError("access token refused: iat in the future")
        role = claims.get(self.role_claim)
        if role not in ROLES:
            raise TokenError(f"claim {self.role_claim!r} is {role!r}; expected one of {ROLES}")
        jkt = (claims.get("cnf") or {}).get("jkt")
        if self.require_dpop or jkt is not None or dpop is not None:
            if dpop is None:
                raise TokenError("DPoP proof required (DPoP header missing)")
            self._check_dpop(dpop, token, jkt, method, url)
        return Identity(str(claims["sub"]), role, claims)

    def _key(self, kid: Any) -> PyJWK:
        for k in self.jwks.keys:
            if kid is None or k.key_id == kid:
                return k
        raise TokenError(f"access token refused: no key {kid!r} in the JWKS")

    def _check_dpop(self, proof: str, token: str, jkt: str | None, method: str, url: str) -> None:
        try:
            header = jwt.get_unverified_header(proof)
        except jwt.PyJWTError as exc:
            raise TokenError(f"DPoP proof is not a JWT: {exc}") from None
        if header.get("typ") != "dpop+jwt":
            raise TokenError("DPoP proof typ is not dpop+jwt")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or any(k in jwk for k in ("d", "p", "q")):
            raise TokenError("DPoP proof needs a public jwk in its header")
        if header.get("alg") not in ALGORITHMS:
            raise TokenError(f"DPoP alg {header.get('alg')!r} not allowed")
        try:
            claims = jwt.decode(
                proof,
                PyJWK(jwk).key,
                algorithms=list(ALGORITHMS),
                options={"verify_aud": False, "require": ["htm", "htu", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"DPoP proof refused: {exc}") from None
        if claims["htm"] != method:
            raise TokenError(f"DPoP htm {claims['htm']!r} is not {method!r}")
        target = url.split("?", 1)[0]
        if claims["htu"].split("?", 1)[0].split("#", 1)[0] != target:
            raise TokenError(f"DPoP htu {claims['htu']!r} is not {target!r}")
        now = self._clock()
        if abs(now - float(claims["iat"])) > DPOP_MAX_AGE_S:
            raise TokenError("DPoP proof too old or from the future")
        if claims.get("ath") != _b64(hashlib.sha256(token.encode()).digest()):
            raise TokenError("DPoP ath does not match the access token")
        if jkt is None or jwk_thumbprint(jwk) != jkt:
            raise TokenError("DPoP key does not match the token's cnf.jkt")
        jti = str(claims["jti"])
        for old, seen_s in list(self._seen_jti.items()):
            if now - seen_s <= 2 * DPOP_MAX_AGE_S and len(self._seen_jti) <= JTI_CACHE:
                break
            del self._seen_jti[old]
        if jti in self._seen_jti:
            raise TokenError("DPoP proof replayed (jti seen before)")
        self._seen_jti[jti] = now
