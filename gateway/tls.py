"""TLS for remote listeners: a configured certificate, or a self-signed one made on first start.

Order: ``[server] tls_cert``/``tls_key``; else systemd credentials ``tls.crt``/``tls.key`` in
``$CREDENTIALS_DIRECTORY`` (LoadCredential=); else ``<state_dir>/tls/self-signed.{crt,key}``,
made once (key 0600, ECDSA P-256, valid 825 days) and reused.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.credentials import credential_path

SELF_SIGNED_DAYS = 825
CREDENTIAL_CERT = "tls.crt"
CREDENTIAL_KEY = "tls.key"


class TlsError(Exception):
    """A certificate or key that cannot be used (the message says which file and why)."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The certificate chain and key the server loads; ``source`` says where they came from."""

    cert: Path
    key: Path
    source: str  # "config" | "credential" | "self-signed"


def resolve(
    cert: Path | None,
    key: Path | None,
    state_dir: Path,
    host: str,
    env: Mapping[str, str] | None = None,
) -> TlsFiles:
    """Find the certificate to serve, making a self-signed one if none is configured."""
    env = os.environ if env is None else env
    if cert is not None and key is not None:
        found = TlsFiles(cert, key, "config")
    else:
        cred_cert = credential_path(CREDENTIAL_CERT, env)
        cred_key = credential_path(CREDENTIAL_KEY, env)
        if cred_cert is not None and cred_key is not None:
            found = TlsFiles(cred_cert, cred_key, "credential")
        else:
            found = self_signed(state_dir / "tls", host)
    for path in (found.cert, found.key):
        if not path.is_file():
            raise TlsError(f"{path}: no such file ({found.source} TLS certificate/key)")
    load_certificate(found.cert)
    return found


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate in a PEM file."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TlsError(f"{path}: not a readable PEM certificate ({exc})") from None


def self_signed(directory: Path, host: str) -> TlsFiles:
    """The self-signed certificate in ``directory``, made on first use."""
    cert_path, key_path = directory / "self-signed.crt", directory / "self-signed.key"
    if cert_path.is_file() and key_path.is_file():
        return TlsFiles(cert_path, key_path, "self-signed")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(socket.gethostname())]
    for text in {host, "127.0.0.1", "::1"}:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(text)))
        except ValueError:
            names.append(x509.DNSName(text))
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"Helserom {socket.gethostname()}")]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp_key = key_path.with_suffix(".key.tmp")
    tmp_key.unlink(missing_ok=True)
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem_key)
    os.replace(tmp_key, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(cert_path, key_path, "self-signed")


def spki_sha256_b64(path: Path) -> str:
    """Base64 SHA-256 of the certificate's public key (for Chromium's SPKI allow-list)."""
    cert = load_certificate(path)
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return base64.b64encode(digest.finalize()).decode()


def write_kiosk_files(runtime_dir: Path, url: str, cert: Path | None) -> None:
    """The kiosk unit's inputs in ``$RUNTIME_DIRECTORY``: the login URL and (TLS) the SPKI hash.

    Mode 0640: the kiosk user reads them through group helserom; nothing else can.
    """
    items = [("kiosk-url", url)] + ([("kiosk-spki", spki_sha256_b64(cert))] if cert else [])
    for name, text in items:
        tmp = runtime_dir / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text + "\n")
        os.replace(tmp, runtime_dir / name)
