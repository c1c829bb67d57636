"""``helserom doctor``: is this machine ready to run the room? Each check says what to fix.

Checks: config and state dir, disk free, serial device permissions, BlueZ on the system bus,
cameras, clock synchronisation, TLS certificate expiry and key permissions, credentials.
Each result is OK, WARN or FAIL; the command exits 1 if any check FAILs.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import datetime as dt
import enum
import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dbus_fast import BusType, Message
from dbus_fast.aio import MessageBus

from drivers.transports.uri import DeviceUri
from gateway import tls
from gateway.credentials import credential_path
from gateway.settings import Settings

DISK_FAIL_BYTES = 200 * 2**20
DISK_WARN_BYTES = 1 * 2**30
CERT_FAIL_DAYS = 2
CERT_WARN_DAYS = 30
TIME_ERROR = 5  # adjtimex(2): clock not synchronised


class Level(enum.IntEnum):
    OK = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True, slots=True)
class Check:
    """One check's result and, unless OK, what to do about it."""

    name: str
    level: Level
    detail: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in a fixed order."""
    return [
        check_state_dir(settings.gateway.state_dir),
        check_disk(settings.gateway.state_dir),
        *check_serial(settings),
        check_bluez(
            any(d.uri.startswith("ble://") for d in settings.devices) and not settings.sim.enabled
        ),
        check_cameras(),
        check_clock(),
        check_certificate(settings),
        check_roles(settings),
    ]


def check_roles(settings: Settings) -> Check:
    """The kiosk PIN and the IT token: without them the lock and the audit API are off."""
    missing = []
    if credential_path("nurse-pin-hash") is None and settings.security.pin_hash is None:
        missing.append("no nurse PIN (the kiosk never locks)")
    if credential_path("admin-token") is None:
        missing.append("no admin-token credential (no IT access to the audit log over HTTP)")
    if missing:
        return Check(
            "roles",
            Level.WARN,
            "; ".join(missing),
            "helserom pin hash > /etc/helserom/credentials/nurse-pin-hash; "
            "openssl rand -base64 33 > /etc/helserom/credentials/admin-token",
        )
    return Check("roles", Level.OK, "nurse PIN and IT token configured")


def check_state_dir(state_dir: Path) -> Check:
    if not state_dir.exists():
        return Check(
            "state-dir",
            Level.WARN,
            f"{state_dir} does not exist yet",
            "it is made on first start (systemd: StateDirectory=helserom)",
        )
    if not os.access(state_dir, os.W_OK | os.X_OK):
        return Check(
            "state-dir",
            Level.FAIL,
            f"{state_dir} is not writable by uid {os.getuid()}",
            f"chown helserom:helserom {state_dir} (or let systemd's StateDirectory= own it)",
        )
    return Check("state-dir", Level.OK, f"{state_dir} writable")


def check_disk(state_dir: Path) -> Check:
    target = state_dir if state_dir.exists() else state_dir.absolute().parent
    while not target.exists():
        target = target.parent
    usage = shutil.disk_usage(target)
    free_mib = usage.free / 2**20
    detail = f"{free_mib:.0f} MiB free of {usage.total / 2**20:.0f} MiB at {target}"
    if usage.free < DISK_FAIL_BYTES:
        return Check("disk", Level.FAIL, detail, "free space: the store and audit log need ≥ 1 GiB")
    if usage.free < DISK_WARN_BYTES:
        return Check("disk", Level.WARN, detail, "less than 1 GiB free; plan for log growth")
    return Check("disk", Level.OK, detail)


def check_serial(settings: Settings) -> list[Check]:
    out = []
    for dev in settings.devices:
        uri = DeviceUri.parse(dev.uri)
        if uri.scheme != "serial":
            continue
        path = Path(uri.target)
        name = f"serial:{dev.id}"
        if settings.sim.enabled:
            out.append(Check(name, Level.OK, f"{path} (simulated room)"))
        elif not path.exists():
            out.append(
                Check(
                    name,
                    Level.FAIL,
                    f"{path} does not exist",
                    "plug the device in; check `ls /dev/serial/by-id/` and the udev rules "
                    "(/etc/udev/rules.d/70-helserom.rules)",
                )
            )
        elif not os.access(path, os.R_OK | os.W_OK):
            out.append(
                Check(
                    name,
                    Level.FAIL,
                    f"{path} not readable and writable by uid {os.getuid()}",
                    "add the service user to group dialout (make install does) and replug",
                )
            )
        else:
            out.append(Check(name, Level.OK, f"{path} read/write"))
    return out


def check_bluez(needed: bool) -> Check:
    level = Level.FAIL if needed else Level.WARN
    try:
        found = asyncio.run(_bluez_on_bus())
    except Exception as exc:  # any bus failure is a finding, not a crash
        return Check(
            "bluez",
            level,
            f"system D-Bus not reachable ({type(exc).__name__}: {exc})",
            "apt install bluez dbus; systemctl enable --now bluetooth",
        )
    if not found:
        return Check(
            "bluez",
            level,
            "org.bluez is not on the system bus",
            "systemctl enable --now bluetooth; check /etc/dbus-1/system.d/helserom.conf",
        )
    return Check("bluez", Level.OK, "org.bluez on the system bus")


async def _bluez_on_bus() -> bool:
    bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), 3)
    try:
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="NameHasOwner",
                signature="s",
                body=["org.bluez"],
            )
        )
        return bool(reply is not None and reply.body and reply.body[0])
    finally:
        bus.disconnect()


def check_cameras() -> Check:
    nodes = sorted(glob.glob("/dev/video*"))
    if not nodes:
        return Check(
            "cameras", Level.WARN, "no /dev/video* devices", "plug in the room and exam cameras"
        )
    denied = [n for n in nodes if not os.access(n, os.R_OK | os.W_OK)]
    if denied:
        return Check(
            "cameras",
            Level.FAIL,
            f"no access to {', '.join(denied)}",
            "add the service user to group video (make install does)",
        )
    return Check("cameras", Level.OK, f"{len(nodes)} video devices: {', '.join(nodes)}")


def clock_synchronised() -> bool | None:
    """adjtimex(2) state: True if synchronised, False if not, None if unknown."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)
    buf = ctypes.create_string_buffer(512)  # struct timex with modes = 0: read only
    state = libc.adjtimex(buf)
    if state < 0:
        return None
    return bool(state != TIME_ERROR)


def check_clock() -> Check:
    synced = clock_synchronised()
    if synced is None:
        return Check("clock", Level.WARN, "cannot read the kernel clock state", "")
    if not synced:
        return Check(
            "clock",
            Level.WARN,
            "kernel clock is not NTP-synchronised (adjtimex: TIME_ERROR)",
            "enable systemd-timesyncd or chrony; audit times and tokens rely on the clock",
        )
    return Check("clock", Level.OK, "kernel clock synchronised")


def check_certificate(settings: Settings, now: dt.datetime | None = None) -> Check:
    server = settings.server
    if not server.use_tls:
        return Check("tls", Level.OK, "TLS off: loopback listener only")
    cred_cert = credential_path(tls.CREDENTIAL_CERT)
    cred_key = credential_path(tls.CREDENTIAL_KEY)
    if server.tls_cert is not None and server.tls_key is not None:
        cert, key = server.tls_cert, server.tls_key
    elif cred_cert is not None and cred_key is not None:
        cert, key = cred_cert, cred_key
    else:
        cert = settings.gateway.state_dir / "tls" / "self-signed.crt"
        key = cert.with_suffix(".key")
        if not cert.exists():
            return Check(
                "tls", Level.WARN, "no certificate yet", "a self-signed one is made on first start"
            )
    try:
        parsed = tls.load_certificate(cert)
    except tls.TlsError as exc:
        return Check("tls", Level.FAIL, str(exc), "configure server.tls_cert/tls_key (PEM)")
    now = now or dt.datetime.now(dt.UTC)
    left = parsed.not_valid_after_utc - now
    detail = f"{cert}: expires {parsed.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if key.exists() and key.stat().st_mode & 0o077:
        return Check("tls", Level.FAIL, f"{key} is readable by group/others", f"chmod 600 {key}")
    if left < dt.timedelta(days=CERT_FAIL_DAYS):
        return Check("tls", Level.FAIL, detail, "renew the certificate now")
    if left < dt.timedelta(days=CERT_WARN_DAYS):
        return Check("tls", Level.WARN, detail, "renew the certificate within 30 days")
    return Check("tls", Level.OK, detail)
