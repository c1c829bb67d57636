"""JSON-lines control of a running room over a unix socket, so another process can drive it.

One JSON object per line in, one JSON line out::

    {"device": "oximeter-1", "command": "unplug"}
    {"ok": true, "device": "oximeter-1", "command": "unplug", "status": {...}}
    {"device": "oximeter-1", "command": "garbage", "n": 7}
    {"device": "nope", "command": "unplug"}
    {"ok": false, "error": "unknown device 'nope': the room has oximeter-1"}

Commands and their parameters: status (device optional: without it, every device), unplug,
replug, truncate, sensor_off, sensor_on, garbage (n bytes), flip_bits (n frames, default 1),
set_vitals (any of hr_bpm, spo2_pct, perfusion), artifact (seconds). A line that is not JSON
gets an error reply and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, Self

from hwsim.errors import CommandError, HwsimError
from hwsim.kinds import KINDS, Commands, SimDevice

logger = logging.getLogger(__name__)

SUN_PATH_MAX: Final = 107  # sockaddr_un.sun_path is 108 bytes including the NUL
MAX_LINE_BYTES: Final = 64 * 1024


class RoomControl(Protocol):
    """Room-wide commands (device-less), implemented by hwsim.room.SimRoom's helpers."""

    def room_commands(self) -> Mapping[str, tuple[frozenset[str], RoomHandler]]: ...

    async def delegate(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        """Carry out a command for a device the room runs itself (None: not such a device)."""
        ...


RoomHandler = Callable[[Mapping[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


def commands_of(device: SimDevice) -> Commands:
    """The control commands a device kind takes."""
    kind = KINDS.get(device.kind)
    if kind is not None:
        return kind.commands
    extra: Commands | None = getattr(device, "CONTROL_COMMANDS", None)
    if extra is None:
        raise CommandError(f"device {device.device_id!r} of kind {device.kind!r} takes no commands")
    return extra


class ControlServer:
    """Serves JSON-lines commands for `devices` on a unix socket; removes the socket on exit."""

    def __init__(
        self,
        devices: Mapping[str, SimDevice],
        socket_path: str | os.PathLike[str],
        *,
        room: RoomControl | None = None,
    ) -> None:
        self.devices = devices
        self.room = room
        self.socket_path = Path(socket_path).absolute()
        if len(os.fsencode(self.socket_path)) > SUN_PATH_MAX:
            raise HwsimError(
                f"control socket path {self.socket_path} is longer than {SUN_PATH_MAX} bytes, "
                "the unix socket limit: use a shorter directory (e.g. under /tmp)"
            )
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    async def __aenter__(self) -> Self:
        self._remove_stale_socket()
        self._server = await asyncio.start_unix_server(
            self._serve_client, path=os.fspath(self.socket_path), limit=MAX_LINE_BYTES
        )
        logger.info("hwsim control listening on %s", self.socket_path)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        try:
            if server is not None:
                server.close()
                # Close idle clients' connections: their handlers read EOF and end by
                # themselves (cancelling them makes asyncio's stream callback log an error).
                for writer in self._clients.values():
                    writer.close()
                if self._clients:
                    await asyncio.wait(list(self._clients))
                await server.wait_closed()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    async def execute(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one command; CommandError says what was wrong."""
        command = request.get("command")
        device_id = request.get("device")
        room_commands = self.room.room_commands() if self.room is not None else {}
        if device_id is None and isinstance(command, str) and command in room_commands:
            accepted, room_handler = room_commands[command]
            self._check_params(command, request, accepted)
            try:
                result = room_handler(request)
                if inspect.isawaitable(result):
                    result = await result
            except HwsimError as exc:
                raise CommandError(str(exc)) from exc
            return {"command": command, **result}
        if self.room is not None and device_id is not None:
            try:
                delegated = await self.room.delegate(request)
            except HwsimError as exc:
                raise CommandError(str(exc)) from exc
            if delegated is not None:
                return delegated
        if command == "status" and device_id is None:
            return {
                "command": command,
                "devices": {key: dev.status() for key, dev in self.devices.items()},
            }
        device = self.devices.get(device_id) if isinstance(device_id, str) else None
        if device is None:
            if not isinstance(command, str) or (device_id is None and command != "status"):
                known = sorted({*room_commands, "status"})
                raise CommandError(
                    f"unknown command {command!r} without a device: expected one of "
                    f'{", ".join(known)}, or a "device"'
                    if device_id is None
                    else f"unknown command {command!r}"
                )
            raise CommandError(
                f"unknown device {device_id!r}: the room has {', '.join(self.devices) or 'none'}"
            )
        commands = commands_of(device)
        if not isinstance(command, str) or command not in commands:
            raise CommandError(
                f"unknown command {command!r} for {device.kind}: expected one of "
                + ", ".join(commands)
            )
        accepted, handler = commands[command]
        self._check_params(command, request, accepted)
        try:
            outcome = handler(device, request)
            if inspect.isawaitable(outcome):
                await outcome
        except HwsimError as exc:
            raise CommandError(str(exc)) from exc
        return {"device": device_id, "command": command, "status": device.status()}

    @staticmethod
    def _check_params(command: str, request: Mapping[str, Any], accepted: frozenset[str]) -> None:
        extra = set(request) - {"device", "command"} - accepted
        if extra:
            raise CommandError(
                f"{command} does not take {', '.join(sorted(extra))}"
                + (f" (it takes {', '.join(sorted(accepted))})" if accepted else "")
            )

    async def reply_to(self, line: bytes) -> dict[str, Any]:
        """The reply to one request line (never raises for bad input)."""
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"bad JSON: {exc}"}
        if not isinstance(request, dict):
            return {"ok": False, "error": 'expected a JSON object like {"command": "status"}'}
        try:
            return {"ok": True, **(await self.execute(request))}
        except CommandError as exc:
            return {"ok": False, "error": str(exc)}

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients[task] = writer
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_LINE_BYTES
                    writer.write(b'{"ok": false, "error": "request line too long"}\n')
                    await writer.drain()
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                writer.write(json.dumps(await self.reply_to(line)).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            if task is not None:
                self._clients.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _remove_stale_socket(self) -> None:
        try:
            mode = self.socket_path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise HwsimError(f"{self.socket_path} exists and is not a socket: choose another path")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(os.fspath(self.socket_path))
        except (ConnectionRefusedError, FileNotFoundError):
            self.socket_path.unlink(missing_ok=True)  # left over by a dead process
            return
        finally:
            probe.close()
        raise HwsimError(f"another hwsim control server is listening on {self.socket_path}")


async def send_command(
    socket_path: str | os.PathLike[str], request: Mapping[str, Any], *, timeout_s: float = 5.0
) -> dict[str, Any]:
    """Send one command to a running room and return its JSON reply."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(os.fspath(socket_path))
            try:
                writer.write(json.dumps(request).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise CommandError(
            f"no hwsim control server at {socket_path}: is `python -m hwsim` running?"
        ) from exc
    except TimeoutError as exc:
        raise CommandError(
            f"hwsim control at {socket_path} did not answer in {timeout_s} s"
        ) from exc
    if not line:
        raise CommandError(f"hwsim control at {socket_path} closed without replying")
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise CommandError(f"hwsim control at {socket_path} sent {reply!r}, not an object")
    return reply
