"""ICE servers: coturn REST credentials (checked against openssl), secrets, config errors."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from gateway import settings as settings_mod
from gateway.auth import NURSE, Principal
from gateway.ice import IceError, ice_servers_for, rest_credential, rtc_configuration
from gateway.settings import IceSettings

SECRET = b"north-sea-coturn-secret"


def openssl_hmac_sha1_b64(secret: bytes, text: str) -> str:
    """An independent oracle: openssl's HMAC-SHA1, base64."""
    digest = subprocess.run(
        ["openssl", "dgst", "-sha1", "-binary", "-hmac", secret.decode()],
        input=text.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return base64.b64encode(digest).decode()


def test_rest_credential_matches_openssl() -> None:
    username, credential = rest_credential(SECRET, "01a2-participant", 3600, 1_795_000_000.7)
    assert username == "1795003600:01a2-participant"
    assert credential == openssl_hmac_sha1_b64(SECRET, username)


def test_ice_servers_for_participant_and_nurse(tmp_path: Path) -> None:
    secret_file = tmp_path / "turn-secret"
    secret_file.write_bytes(SECRET + b"\n")  # a trailing newline is not part of the secret
    ice = IceSettings(
        stun_urls=["stun:stun.example.no:3478"],
        turn_urls=["turn:turn.example.no:3478?transport=udp", "turns:turn.example.no:443"],
        turn_secret_file=secret_file,
        credential_ttl_s=600,
    )
    who = Principal("specialist", "p-1", "s-1")
    stun, turn = ice_servers_for(ice, who, now_s=1000.0)
    assert stun == {"urls": ["stun:stun.example.no:3478"]}
    assert turn["urls"] == list(ice.turn_urls)
    assert turn["username"] == "1600:p-1"
    assert turn["credential"] == openssl_hmac_sha1_b64(SECRET, "1600:p-1")
    [_, nurse_turn] = ice_servers_for(ice, NURSE, now_s=1000.0)
    assert nurse_turn["username"] == "1600:kiosk"
    config = rtc_configuration(ice, who)
    assert config["iceTransportPolicy"] == "all" and len(config["iceServers"]) == 2


def test_no_servers_by_default() -> None:
    assert ice_servers_for(IceSettings(), NURSE) == []


def test_secret_from_systemd_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "turn").write_bytes(SECRET)
    ice = IceSettings(turn_urls=["turn:127.0.0.1:3478"], turn_secret_credential="turn")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(IceError, match=r"CREDENTIALS_DIRECTORY is not set"):
        ice_servers_for(ice, NURSE)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    [turn] = ice_servers_for(ice, NURSE, now_s=0)
    assert turn["credential"] == openssl_hmac_sha1_b64(SECRET, "3600:kiosk")


def test_unreadable_secret_says_which_file(tmp_path: Path) -> None:
    ice = IceSettings(turn_urls=["turn:127.0.0.1:3478"], turn_secret_file=tmp_path / "missing")
    with pytest.raises(IceError, match=r"cannot read the TURN secret .*missing"):
        ice_servers_for(ice, NURSE)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[ice]\nturn_urls = ["turn:127.0.0.1:3478"]\n',
            "ice: got {'turn_urls': ['turn:127.0.0.1:3478']}; expected turn_secret_file or "
            "turn_secret_credential with turn_urls",
        ),
        ('[ice]\ntransport_policy = "relay"\n', "expected turn_urls when transport_policy"),
        ('[ice]\nstun_urls = ["turn:x"]\n', "ice.stun_urls: got ['turn:x']; expected stun:"),
        ('[ice]\nturn_secret = "inline"\n', "ice.turn_secret: unknown key"),
        ('[ice]\ntransport_policy = "any"\n', "ice.transport_policy: got 'any'; expected 'all'"),
    ],
)
def test_config_errors_name_key_value_and_expectation(
    tmp_path: Path, toml: str, expected: str
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(settings_mod.ConfigError) as err:
        settings_mod.load(path)
    assert any(expected in line for line in err.value.problems), err.value.problems
