"""A private ``dbus-daemon`` standing in for the system bus, so bleak can be pointed at it.

bleak's BlueZ backend only ever talks to the *system* bus; dbus-fast resolves that address from
``DBUS_SYSTEM_BUS_ADDRESS`` each time a connection is made. :class:`PrivateBus` starts a
``dbus-daemon`` with its own configuration (any local user may connect, send and own names, in
particular ``org.bluez``) listening on a unix socket in a short directory under /tmp
(``sockaddr_un.sun_path`` holds only 107 bytes), and kills it on exit::

    async with PrivateBus() as bus:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address

The daemon is started with ``--nofork --print-address`` so the object owns the process and a test
fixture's teardown can never leave a ``dbus-daemon`` behind.
"""

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from hwsim.errors import HwsimError

logger = logging.getLogger(__name__)

SUN_PATH_MAX: Final = 107  # sockaddr_un.sun_path is 108 bytes including the NUL
DBUS_DAEMON: Final = "dbus-daemon"
START_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 5.0

_CONFIG: Final = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="*"/>
  </policy>
</busconfig>
"""


class PrivateBusError(HwsimError):
    """The private dbus-daemon could not be started."""


class PrivateBus:
    """Runs one private ``dbus-daemon``; ``address`` is valid inside the ``async with`` block."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._given_dir = None if directory is None else Path(directory)
        self._dir: Path | None = None
        self._owns_dir = False
        self._proc: asyncio.subprocess.Process | None = None
        self.address = ""

    @property
    def socket_path(self) -> Path:
        """Where the daemon listens."""
        if self._dir is None:
            raise PrivateBusError("the private bus is not running")
        return self._dir / "bus"

    @property
    def pid(self) -> int | None:
        """The dbus-daemon's process id while it runs."""
        return None if self._proc is None else self._proc.pid

    async def __aenter__(self) -> Self:
        exe = shutil.which(DBUS_DAEMON)
        if exe is None:
            raise PrivateBusError(f"{DBUS_DAEMON} not found on PATH: install the dbus package")
        if self._given_dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="hwbz", dir="/tmp"))
            self._owns_dir = True
        else:
            self._dir = self._given_dir.absolute()
            self._dir.mkdir(parents=True, exist_ok=True)
        socket_path = self._dir / "bus"
        if len(os.fsencode(socket_path)) > SUN_PATH_MAX:
            raise PrivateBusError(
                f"bus socket path {socket_path} is longer than {SUN_PATH_MAX} bytes; "
                "use a shorter directory under /tmp"
            )
        config = self._dir / "bus.conf"
        config.write_text(_CONFIG.format(socket=socket_path))
        try:
            self._proc = await asyncio.create_subprocess_exec(
                exe,
                f"--config-file={config}",
                "--nofork",
                "--nopidfile",
                "--print-address=1",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert self._proc.stdout is not None
            async with asyncio.timeout(START_TIMEOUT_S):
                line = await self._proc.stdout.readline()
            if not line:
                assert self._proc.stderr is not None
                err = (await self._proc.stderr.read()).decode(errors="replace").strip()
                raise PrivateBusError(f"dbus-daemon exited at start: {err}")
        except BaseException:
            await self._stop()
            raise
        self.address = line.decode().strip()
        logger.debug("private bus %s (pid %s)", self.address, self._proc.pid)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._dir is not None:
            if self._owns_dir:
                shutil.rmtree(self._dir, ignore_errors=True)
            else:
                for name in ("bus", "bus.conf"):
                    with contextlib.suppress(FileNotFoundError):
                        (self._dir / name).unlink()
        self._dir = None
        self.address = ""
