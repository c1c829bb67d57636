"""`helserom doctor`: structure of the report, and real induced failures."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from gateway.cli import app
from gateway.doctor import (
    Level,
    check_certificate,
    check_disk,
    check_roles,
    check_serial,
    run_checks,
)
from gateway.pin import hash_pin
from gateway.settings import Settings

CLI = CliRunner()
HELSEROM = Path(sys.executable).parent / "helserom"


def _cert(tmp_path: Path, days: float) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "room")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "room.crt", tmp_path / "room.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _settings(tmp_path: Path, cert: Path, key: Path) -> Settings:
    return Settings(
        gateway={"state_dir": tmp_path},
        server={"host": "0.0.0.0", "tls_cert": cert, "tls_key": key},
    )


def test_certificate_expiry_and_key_permissions(tmp_path: Path) -> None:
    cert, key = _cert(tmp_path, days=400)
    assert check_certificate(_settings(tmp_path, cert, key)).level == Level.OK
    cert, key = _cert(tmp_path, days=10)
    assert check_certificate(_settings(tmp_path, cert, key)).level == Level.WARN
    cert, key = _cert(tmp_path, days=1)  # expires tomorrow
    result = check_certificate(_settings(tmp_path, cert, key))
    assert result.level == Level.FAIL and "renew" in result.fix
    cert, key = _cert(tmp_path, days=400)
    key.chmod(0o644)
    result = check_certificate(_settings(tmp_path, cert, key))
    assert result.level == Level.FAIL and result.fix == f"chmod 600 {key}"
    cert.write_text("not a certificate")
    assert check_certificate(_settings(tmp_path, cert, key)).level == Level.FAIL


def test_serial_device_missing_and_not_accessible(tmp_path: Path) -> None:
    tty = tmp_path / "ttyFAKE"
    settings = Settings(
        gateway={"state_dir": tmp_path},
        devices=[{"id": "ox", "uri": f"serial://{tty}?codec=nonin2"}],
    )
    [missing] = check_serial(settings)
    assert missing.level == Level.FAIL and "does not exist" in missing.detail
    tty.write_bytes(b"")
    assert check_serial(settings)[0].level == Level.OK
    if os.geteuid() != 0:  # root reads anything: the permission case needs a normal user
        tty.chmod(0)
        assert check_serial(settings)[0].level == Level.FAIL


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root + unshare")
def test_full_state_dir_fails_in_a_real_small_tmpfs(tmp_path: Path) -> None:
    # a 64 MiB tmpfs mounted in a private mount namespace: below the 200 MiB floor
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    config = tmp_path / "g.toml"
    config.write_text(f'[gateway]\nstate_dir = "{mnt}/state"\n')
    script = (
        f"mount -t tmpfs -o size=64m tmpfs {mnt} && mkdir {mnt}/state && "
        f"exec {HELSEROM} doctor --json --config {config}"
    )
    run = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    rows = {r["name"]: r for r in json.loads(run.stdout)}
    assert rows["disk"]["level"] == "FAIL" and "64 MiB" in rows["disk"]["detail"]
    assert rows["state-dir"]["level"] == "OK"


def test_disk_ok_here(tmp_path: Path) -> None:
    assert check_disk(tmp_path).level in (Level.OK, Level.WARN)


def test_report_structure_and_exit_code(tmp_path: Path) -> None:
    cert, key = _cert(tmp_path, days=1)
    config = tmp_path / "g.toml"
    config.write_text(
        f'[gateway]\nstate_dir = "{tmp_path}"\n[server]\nhost = "0.0.0.0"\n'
        f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
    )
    run = CLI.invoke(app, ["doctor", "--json", "--config", str(config)])
    rows = json.loads(run.stdout)
    names = [r["name"] for r in rows]
    assert names == ["state-dir", "disk", "bluez", "cameras", "clock", "tls", "roles"]
    assert all(r["level"] in ("OK", "WARN", "FAIL") for r in rows)
    assert all(r["fix"] for r in rows if r["level"] == "FAIL")
    assert run.exit_code == 1  # the certificate expires tomorrow
    text = CLI.invoke(app, ["doctor", "--config", str(config)])
    assert "FAIL tls" in text.stdout and "→ renew the certificate now" in text.stdout
    assert [c.name for c in run_checks(Settings(gateway={"state_dir": tmp_path}))][-1] == "roles"


def test_roles_check_sees_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(gateway={"state_dir": tmp_path})
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert check_roles(settings).level == Level.WARN
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "helserom_admin-token").write_text("a" * 40)
    (creds / "helserom_nurse-pin-hash").write_text(hash_pin("1234"))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert check_roles(settings).level == Level.OK
