"""Settings: defaults, env overrides, and bad configs that name key, value and expectation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import ConfigError, load

REPO = Path(__file__).resolve().parents[2]
HELSEROM = [sys.executable, "-m", "gateway"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["config/gateway.toml", "config/rooms/sim.toml"])
def test_shipped_configs_are_valid(name: str) -> None:
    settings = load(REPO / name)
    assert settings.server.host == "127.0.0.1"
    assert settings.devices, "the shipped configs name at least one device"


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "[server]\nport = 9000\n")
    monkeypatch.setenv("HELSEROM_SERVER__PORT", "9100")
    assert load(path).server.port == 9100


def test_env_override_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELSEROM_SERVER__HOST", "0.0.0.0")
    monkeypatch.setenv("HELSEROM_SERVER__TLS", "off")
    with pytest.raises(ConfigError) as err:
        load(_write(tmp_path, ""))
    assert (
        err.value.problems[0].startswith("server: got ")
        and "remote listeners need TLS" in (err.value.problems[0])
    )


BAD_CONFIGS = [
    pytest.param(
        "[server]\nprot = 8080\n",
        "server.prot: unknown key (value 8080); expected no such key",
        id="unknown-key",
    ),
    pytest.param(
        '[server]\nport = "eighty"\n',
        "server.port: got 'eighty'; expected a valid integer, unable to parse string as an integer",
        id="wrong-type",
    ),
    pytest.param(
        "[server]\nport = 70000\n",
        "server.port: got 70000; expected less than or equal to 65535",
        id="out-of-range",
    ),
    pytest.param(
        '[server]\nhost = "0.0.0.0"\ntls = "off"\n',
        "server: got {'host': '0.0.0.0', 'tls': 'off'}; expected tls = 'auto' or 'on' for host "
        "'0.0.0.0': remote listeners need TLS (tls = 'off' is allowed on loopback only)",
        id="remote-bind",
    ),
    pytest.param(
        '[[devices]]\nid = "ox"\nuri = "serial://dev/ttyUSB0?codec=nonin2"\n',
        "devices[0].uri: got 'serial://dev/ttyUSB0?codec=nonin2'; expected serial URI "
        "'serial://dev/ttyUSB0?codec=nonin2' has a host part 'dev': expected "
        "serial:///absolute/path (three slashes)",
        id="bad-uri",
    ),
    pytest.param(
        '[[devices]]\nid = "ox"\nuri = "serial:///dev/ttyUSB0?codec=nonin9"\n',
        "devices[0].uri: got 'serial:///dev/ttyUSB0?codec=nonin9'; expected a known codec in "
        "the URI (got codec='nonin9'; known: cms50, nonin2, nonin7, nonin8, openbci, spiro)",
        id="unknown-codec",
    ),
    pytest.param(
        '[[devices]]\nid = "cuff"\nuri = "ble://AA:BB:CC:DD:EE:FF?profile=bpm"\n',
        "devices[0].uri: got 'ble://AA:BB:CC:DD:EE:FF?profile=bpm'; expected a known ?profile= "
        "in the ble URI (got 'bpm'; known: bp, hr, plx, thermometer, weight)",
        id="unknown-ble-profile",
    ),
    pytest.param(
        '[[devices]]\nid = "ox"\nuri = "serial:///a?codec=nonin2"\n'
        '[[devices]]\nid = "ox"\nuri = "serial:///b?codec=nonin2"\n',
        "(top level): got",
        id="duplicate-ids",
    ),
    pytest.param(
        "[pipeline]\nrestart_backoff_initial_s = 5\nrestart_backoff_max_s = 1\n",
        "pipeline: got",
        id="backoff-order",
    ),
    pytest.param(
        "[server\nport = 1\n",
        "not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)",
        id="toml-syntax",
    ),
    pytest.param(
        '[[sim.devices]]\nid = "ox"\nlink = "../etc/passwd"\n',
        "sim.devices[0].link: got '../etc/passwd'; expected a plain file name",
        id="sim-link-escapes",
    ),
    pytest.param(
        '[[devices]]\nuri = "serial:///a?codec=nonin2"\n',
        "devices[0].id: missing; expected this key to be set",
        id="missing-key",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_config_names_key_value_and_expectation(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(_write(tmp_path, text))
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems


def test_duplicate_ids_message_names_the_id(tmp_path: Path) -> None:
    text = '[[devices]]\nid = "ox"\nuri = "serial:///a?codec=nonin2"\n' * 2
    with pytest.raises(ConfigError) as err:
        load(_write(tmp_path, text))
    assert "unique ids in devices (duplicated: ox)" in err.value.problems[0]


def test_config_check_cli_exit_codes(tmp_path: Path) -> None:
    good = subprocess.run(
        [*HELSEROM, "config", "check", str(REPO / "config/gateway.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    bad = _write(tmp_path, '[server]\nport = "x"\nhots = 1\n')
    res = subprocess.run(
        [*HELSEROM, "config", "check", str(bad)], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith(f"{bad}: server.port: got 'x'; expected a valid integer")
    assert lines[1] == f"{bad}: server.hots: unknown key (value 1); expected no such key"
    assert "Traceback" not in res.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "nope.toml")
    assert err.value.problems == ["cannot read the file: No such file or directory"]
