"""sd_notify(3) without libsystemd: datagrams to ``$NOTIFY_SOCKET`` (path or ``@abstract``).

The supervisor sends READY=1 once devices are started and the server listens, WATCHDOG=1 from
its main loop only while /healthz is not failing, STATUS= lines, and STOPPING=1 on shutdown.
Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)


class Notifier:
    """A connection to the service manager's notification socket (or nothing)."""

    def __init__(self, address: str | None) -> None:
        self._sock: socket.socket | None = None
        self._address: str | bytes | None = None
        if not address:
            return
        if address.startswith("@"):
            self._address = b"\0" + address[1:].encode()  # abstract namespace (unix(7))
        elif address.startswith("/"):
            self._address = address
        else:
            logger.warning("NOTIFY_SOCKET %r is neither a path nor @abstract; ignored", address)
            return
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd configured for this process."""
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False if not sent."""
        if self._sock is None or self._address is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode(), self._address)
        except OSError as exc:
            logger.warning("sd_notify to %r failed: %s", self._address, exc)
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds (sd_watchdog_enabled(3)), or None if not asked."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process
    try:
        value = int(usec)
    except ValueError:
        logger.warning("WATCHDOG_USEC %r is not an integer; watchdog off", usec)
        return None
    return value / 2e6 if value > 0 else None


STATUS_INTERVAL_S = 5.0


async def run_watchdog(
    notifier: Notifier, health: Callable[[], dict[str, Any]], interval_s: float | None
) -> None:
    """From the main loop: WATCHDOG=1 only while health is not failing; STATUS= on changes."""
    last_status = ""
    while True:
        body = health()
        state = str(body.get("status", "failing"))
        problems = body.get("problems") or []
        status = f"STATUS={state}" + (": " + "; ".join(map(str, problems)) if problems else "")
        lines = [status] if status != last_status else []
        if state != "failing" and interval_s is not None:
            lines.append("WATCHDOG=1")
        elif state == "failing" and status != last_status:
            logger.warning("health failing (%s): withholding watchdog pings", "; ".join(problems))
        if lines:
            notifier.notify(*lines)
        last_status = status
        await asyncio.sleep(interval_s if interval_s is not None else STATUS_INTERVAL_S)
