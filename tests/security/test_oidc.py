"""OIDC/HelseID-style tokens against a local JWKS (no network): claims, roles, DPoP (RFC 9449)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter
from jwt.algorithms import ECAlgorithm

from gateway.auth import PrincipalDep
from gateway.oidc import OidcValidator, TokenError, jwk_thumbprint, load_jwks
from tests.security.conftest import App, AppFactory

ISS = "https://helseid-sts.test.nhn.no"
AUD = "helserom:room-api"
URL = "http://127.0.0.1:8080/api/v1/kiosk/lock"


def _jwk(key: ec.EllipticCurvePrivateKey, kid: str | None = None) -> dict[str, Any]:
    public: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    if kid:
        public |= {"kid": kid, "use": "sig", "alg": "ES256"}
    return public


@pytest.fixture(scope="module")
def issuer_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def jwks_file(tmp_path: Path, issuer_key: ec.EllipticCurvePrivateKey) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(issuer_key, "k1")]}))
    return path


def _token(key: ec.EllipticCurvePrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "aud": AUD,
        "sub": "hpr:123456",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "helserom_role": "specialist",
    } | overrides
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})


def _proof(
    key: ec.EllipticCurvePrivateKey,
    token: str,
    method: str = "GET",
    url: str = URL,
    **overrides: Any,
) -> str:
    claims = {
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "ath": base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest())
        .rstrip(b"=")
        .decode(),
    } | overrides
    headers = {"typ": "dpop+jwt", "jwk": _jwk(key)}
    return jwt.encode(claims, key, algorithm="ES256", headers=headers)


def test_valid_token_maps_role(jwks_file: Path, issuer_key: ec.EllipticCurvePrivateKey) -> None:
    v = OidcValidator(ISS, AUD, load_jwks(jwks_file))
    ident = v.validate(_token(issuer_key, helserom_role="gp"))
    assert (ident.subject, ident.role) == ("hpr:123456", "gp")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iss": "https://evil.example"}, "Invalid issuer"),
        ({"aud": "someone-else"}, "Audience doesn't match"),
        ({"exp": -120}, "expired"),  # exp and nbf: seconds from when the test runs
        ({"nbf": 600}, "not yet valid"),
        ({"exp": None}, 'missing the "exp" claim'),
        ({"helserom_role": "admin"}, "claim 'helserom_role' is 'admin'"),
    ],
    ids=["iss", "aud", "exp", "nbf", "no-exp", "role"],
)
def test_bad_claims_are_refused(
    jwks_file: Path,
    issuer_key: ec.EllipticCurvePrivateKey,
    overrides: dict[str, Any],
    message: str,
) -> None:
    v = OidcValidator(ISS, AUD, load_jwks(jwks_file))
    now = int(time.time())  # not at collection: the suite may run for many minutes before this
    claims = {
        k: now + x if k in ("exp", "nbf") and isinstance(x, int) else x
        for k, x in overrides.items()
    }
    with pytest.raises(TokenError, match=message):
        v.validate(_token(issuer_key, **claims))


def test_foreign_key_and_alg_none_are_refused(jwks_file: Path) -> None:
    v = OidcValidator(ISS, AUD, load_jwks(jwks_file))
    with pytest.raises(TokenError, match="Signature verification failed"):
        v.validate(_token(ec.generate_private_key(ec.SECP256R1())))
    unsigned = jwt.encode(
        {"iss": ISS, "aud": AUD, "sub": "x", "exp": int(time.time()) + 60, "helserom_role": "gp"},
        None,
        algorithm="none",
        headers={"kid": "k1"},
    )
    with pytest.raises(TokenError, match=r"not allowed|alg"):
        v.validate(unsigned)


def test_dpop_bound_token(jwks_file: Path, issuer_key: ec.EllipticCurvePrivateKey) -> None:
    client_key = ec.generate_private_key(ec.SECP256R1())
    v = OidcValidator(ISS, AUD, load_jwks(jwks_file), require_dpop=True)
    token = _token(issuer_key, cnf={"jkt": jwk_thumbprint(_jwk(client_key))})
    proof = _proof(client_key, token)
    assert v.validate(token, dpop=proof, method="GET", url=URL).role == "specialist"
    with pytest.raises(TokenError, match="replayed"):
        v.validate(token, dpop=proof, method="GET", url=URL)
    with pytest.raises(TokenError, match="DPoP proof required"):
        v.validate(token)
    with pytest.raises(TokenError, match="htm"):
        v.validate(token, dpop=_proof(client_key, token, "POST"), method="GET", url=URL)
    with pytest.raises(TokenError, match="htu"):
        v.validate(token, dpop=_proof(client_key, token, url=URL + "x"), method="GET", url=URL)
    with pytest.raises(TokenError, match="too old"):
        v.validate(token, dpop=_proof(client_key, token, iat=int(time.time()) - 600), url=URL)
    with pytest.raises(TokenError, match="ath"):
        v.validate(token, dpop=_proof(client_key, token, ath="AAAA"), url=URL)
    other = ec.generate_private_key(ec.SECP256R1())  # a stolen token, the thief's own key
    with pytest.raises(TokenError, match=r"cnf\.jkt"):
        v.validate(token, dpop=_proof(other, token), url=URL)
    unbound = _token(issuer_key)
    with pytest.raises(TokenError, match=r"cnf\.jkt"):
        v.validate(unbound, dpop=_proof(client_key, unbound), url=URL)


def test_thumbprint_matches_rfc7638_example() -> None:
    # RFC 7638 §3.1: the RSA example key and its thumbprint
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_gateway_accepts_jwt_on_patient_routes(
    make_app: AppFactory, jwks_file: Path, issuer_key: ec.EllipticCurvePrivateKey
) -> None:
    gw: App = await make_app(
        security={"oidc_issuer": ISS, "oidc_audience": AUD, "oidc_jwks_file": str(jwks_file)}
    )
    probe = APIRouter()

    @probe.get("/api/v1/whoami")
    async def whoami(who: PrincipalDep) -> dict[str, str | None]:
        return {"role": who.role, "subject": who.subject}

    gw.app.include_router(probe)
    token = _token(issuer_key, helserom_role="gp")
    async with gw.client(headers={"Authorization": f"Bearer {token}"}) as gp:
        assert (await gp.get("/api/v1/whoami")).json() == {"role": "gp", "subject": "hpr:123456"}
        assert (await gp.get("/api/v1/devices")).status_code == 401  # kiosk-only route
    expired = _token(issuer_key, exp=int(time.time()) - 100)
    async with gw.client(headers={"Authorization": f"Bearer {expired}"}) as late:
        assert (await late.get("/api/v1/whoami")).status_code == 401
    row = gw.audit.tail(1)[0]
    assert (row["subject"], row["outcome"]) == ("anonymous", "401")
    assert gw.audit.tail(3)[2]["subject"] == "hpr:123456"
