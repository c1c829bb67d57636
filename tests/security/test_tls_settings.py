"""Remote listeners only with TLS; the certificate from config, credential or self-signed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway import tls
from gateway.settings import ConfigError, Settings, load


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "g.toml"
    path.write_text(text)
    return load(path)


def test_tls_rules(tmp_path: Path) -> None:
    assert not _load(tmp_path, "").server.use_tls
    assert not _load(tmp_path, '[server]\nhost = "127.0.0.2"\n').server.use_tls
    assert _load(tmp_path, '[server]\nhost = "0.0.0.0"\n').server.use_tls
    assert _load(tmp_path, '[server]\nhost = "::"\n').server.use_tls
    assert _load(tmp_path, '[server]\ntls = "on"\n').server.use_tls
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[server]\nhost = "192.168.1.20"\ntls = "off"\n')
    assert "remote listeners need TLS" in err.value.problems[0]
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[server]\ntls_cert = "/x.crt"\n')
    assert "tls_cert and tls_key both set, or neither" in err.value.problems[0]
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[server]\nhost = "example.org"\n')
    assert "expected an IP address" in err.value.problems[0]


def test_self_signed_made_once_with_private_key(tmp_path: Path) -> None:
    first = tls.resolve(None, None, tmp_path, "0.0.0.0", env={})
    assert first.source == "self-signed"
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    cert = tls.load_certificate(first.cert)
    again = tls.resolve(None, None, tmp_path, "0.0.0.0", env={})
    assert tls.load_certificate(again.cert).serial_number == cert.serial_number  # reused


def test_credential_beats_self_signed_and_config_beats_credential(tmp_path: Path) -> None:
    made = tls.self_signed(tmp_path / "made", "127.0.0.1")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "helserom_tls.crt").write_bytes(made.cert.read_bytes())
    (creds / "helserom_tls.key").write_bytes(made.key.read_bytes())
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert tls.resolve(None, None, tmp_path, "0.0.0.0", env=env).source == "credential"
    chosen = tls.resolve(made.cert, made.key, tmp_path, "0.0.0.0", env=env)
    assert (chosen.source, chosen.cert) == ("config", made.cert)
    with pytest.raises(tls.TlsError, match="no such file"):
        tls.resolve(tmp_path / "nope.crt", made.key, tmp_path, "0.0.0.0", env=env)
    (tmp_path / "bad.crt").write_text("garbage")
    with pytest.raises(tls.TlsError, match="not a readable PEM certificate"):
        tls.resolve(tmp_path / "bad.crt", made.key, tmp_path, "0.0.0.0", env=env)
