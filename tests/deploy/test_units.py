"""systemd units, udev, D-Bus policy, tmpfiles and `make install DESTDIR=…`, checked offline.

``systemd-analyze verify`` exits 0 on warnings, so any output line fails the test; the
gateway unit's ``systemd-analyze security --offline=true`` exposure must stay <= 2.5.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"
PREFIX = "/opt/helserom"
MAX_EXPOSURE = 2.5
EXPOSURE = re.compile(r"Overall exposure level for (\S+): (\d+\.\d+)")

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`make install DESTDIR=…` for real: files, the relocatable venv, no users, no systemctl."""
    root = tmp_path_factory.mktemp("destdir")
    run = subprocess.run(
        ["make", "--no-print-directory", "install", f"DESTDIR={root}"],
        cwd=REPO,
        env={**os.environ, "UV_OFFLINE": "1"},  # from uv's cache only (make setup filled it)
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "units not enabled" in run.stdout
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_install_lays_out_the_tree(installed: Path) -> None:
    expected = {
        f"{PREFIX}/.venv/bin/helserom": 0o755,
        f"{PREFIX}/bin/helserom-kiosk": 0o755,
        "/etc/helserom/gateway.toml": 0o640,
        "/etc/helserom/credentials": 0o700,
        "/etc/systemd/system/helserom-gateway.service": 0o644,
        "/etc/systemd/system/helserom-kiosk.service": 0o644,
        "/etc/udev/rules.d/70-helserom.rules": 0o644,
        "/etc/dbus-1/system.d/helserom.conf": 0o644,
        "/usr/lib/tmpfiles.d/helserom.conf": 0o644,
        "/usr/lib/sysusers.d/helserom.conf": 0o644,
    }
    for rel, mode in expected.items():
        path = installed / rel.lstrip("/")
        assert path.exists(), rel
        if not path.is_symlink():
            assert stat.S_IMODE(path.stat().st_mode) & 0o777 == mode, (
                rel,
                oct(path.stat().st_mode),
            )


def test_installed_venv_runs_the_cli(installed: Path) -> None:
    # only runtime dependencies are installed: this fails if gateway imports a dev-only package
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    run = subprocess.run(
        [
            str(installed / PREFIX.lstrip("/") / ".venv/bin/helserom"),
            "config",
            "check",
            str(installed / "etc/helserom/gateway.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd="/",
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith(": ok")


def test_units_verify_without_any_warning(installed: Path, tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point the installed units at the DESTDIR tree
    units = []
    for name in ("helserom-gateway.service", "helserom-kiosk.service"):
        text = (installed / "etc/systemd/system" / name).read_text()
        assert f"{PREFIX}/" in text
        copy = tmp_path / name
        copy.write_text(text.replace(f"{PREFIX}/", f"{installed}{PREFIX}/"))
        units.append(str(copy))
    run = subprocess.run(
        ["systemd-analyze", "verify", *units],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = (run.stdout + run.stderr).strip()
    assert run.returncode == 0 and output == "", output


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    # the check above can fail: a typo'd key and a missing binary are reported
    bad = tmp_path / "helserom-gateway.service"
    text = (SYSTEMD / "helserom-gateway.service").read_text()
    bad.write_text(text.replace("WatchdogSec=", "WatchDogSec="))
    run = subprocess.run(
        ["systemd-analyze", "verify", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = run.stdout + run.stderr
    assert "Unknown key 'WatchDogSec'" in output
    assert "is not executable" in output


def _exposure(unit: Path) -> float:
    run = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = EXPOSURE.search(run.stdout + run.stderr)
    assert match, run.stdout[-2000:] + run.stderr
    return float(match.group(2))


def test_gateway_unit_exposure_at_most_2_5() -> None:
    exposure = _exposure(SYSTEMD / "helserom-gateway.service")
    print(f"helserom-gateway.service exposure {exposure}")
    assert exposure <= MAX_EXPOSURE


def test_exposure_check_sees_hardening_removed(tmp_path: Path) -> None:
    text = (SYSTEMD / "helserom-gateway.service").read_text()
    kept = [
        line
        for line in text.splitlines()
        if not line.startswith(
            (
                "Protect",
                "Restrict",
                "SystemCall",
                "Capability",
                "Private",
                "NoNewPrivileges",
                "DevicePolicy",
                "DeviceAllow",
            )
        )
    ]
    weak = tmp_path / "helserom-gateway.service"
    weak.write_text("\n".join(kept) + "\n")
    assert _exposure(weak) > MAX_EXPOSURE


def test_unit_requirements() -> None:
    unit = (SYSTEMD / "helserom-gateway.service").read_text()
    for line in (
        "Type=notify",
        "Restart=on-failure",
        "StateDirectory=helserom",
        "LoadCredential=helserom:/etc/helserom/credentials",
        "DevicePolicy=closed",
        "DeviceAllow=char-ttyUSB rw",
        "DeviceAllow=char-ttyACM rw",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service",
    ):
        assert re.search(rf"^{re.escape(line)}$", unit, re.MULTILINE), line
    assert re.search(r"^WatchdogSec=\d+$", unit, re.MULTILINE)
    assert re.search(r"^RestrictAddressFamilies=", unit, re.MULTILINE)
    kiosk = (SYSTEMD / "helserom-kiosk.service").read_text()
    assert "TTYPath=/dev/tty1" in kiosk
    script = (SYSTEMD / "helserom-kiosk").read_text()
    assert "cage" in script and "--kiosk" in script


def test_dbus_policy_gives_the_service_user_bluez_only() -> None:
    tree = ET.parse(SYSTEMD / "helserom-dbus.conf")
    policies = tree.getroot().findall("policy")
    assert [p.get("user") for p in policies] == ["helserom"]
    allows = policies[0].findall("allow")
    assert {a.get("send_destination") for a in allows if "send_destination" in a.attrib} == {
        "org.bluez"
    }
    assert {a.get("receive_sender") for a in allows if "receive_sender" in a.attrib} == {
        "org.bluez"
    }
    assert not policies[0].findall("deny") and len(allows) == 5


def test_udev_rules_give_serial_and_video_groups() -> None:
    rules = [
        line
        for line in (SYSTEMD / "70-helserom.rules").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for line in rules:  # every rule: comma-separated KEY op "value" pairs
        for part in line.split(", "):
            assert re.fullmatch(r'[A-Za-z{}_]+(==|\+=|=|!=)"[^"]*"', part.strip()), part
    text = "\n".join(rules)
    assert 'KERNEL=="ttyUSB[0-9]*|ttyACM[0-9]*", GROUP="dialout", MODE="0660"' in text
    assert 'SUBSYSTEM=="video4linux", GROUP="video"' in text


def test_image_recipe_scripts_parse() -> None:
    # the image cannot be built here (no arm64 binfmt); at least every script must parse
    scripts = sorted((SYSTEMD / "image").rglob("*.sh"))
    assert len(scripts) >= 4
    for script in scripts:
        run = subprocess.run(
            ["bash", "-n", str(script)], capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, (script, run.stderr)
        assert os.access(script, os.X_OK), script
