"""``python -m hwsim.bluez`` as its own process, driven over its control socket, seen by bleak."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator

import pytest
from bleak import BleakClient

from ._bleak_helpers import find, sig, subscribe


def _dbus_daemons_for(directory: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"dbus-daemon" in cmdline and directory.encode() in cmdline:
            pids.append(int(entry))
    return pids


@pytest.fixture
async def sim_process(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    directory = tempfile.mkdtemp(prefix="hwbzt", dir="/tmp")
    control = os.path.join(directory, "ctl.sock")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hwsim.bluez",
        "--dir",
        os.path.join(directory, "bus"),
        "--control",
        control,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            line = (await proc.stdout.readline()).decode().strip()
        name, _, address = line.partition("=")
        assert name == "DBUS_SYSTEM_BUS_ADDRESS"
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
        yield control
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                await proc.wait()
        assert _dbus_daemons_for(directory) == []
        shutil.rmtree(directory, ignore_errors=True)


async def _command(control: str, request: dict[str, object]) -> dict[str, object]:
    reader, writer = await asyncio.open_unix_connection(control)
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        reply: dict[str, object] = json.loads(await reader.readline())
        return reply
    finally:
        writer.close()
        await writer.wait_closed()


async def test_subprocess_simulator_commanded_over_its_socket(sim_process: str) -> None:
    async with BleakClient(await find("C0:FF:EE:00:00:03")) as client:
        inbox = await subscribe(client, sig(0x2A1C))
        reply = await _command(sim_process, {"device": "ble-thermo", "command": "measure"})
        assert reply["ok"] is True, reply
        value = await inbox.get()
        assert value[:5] == bytes.fromhex("02600e00fe")  # 36.8 °C, timestamp present
    reply = await _command(sim_process, {"device": "nope", "command": "measure"})
    assert reply == {
        "ok": False,
        "error": "unknown device 'nope': the room has "
        "['ble-bp', 'ble-scale', 'ble-spo2', 'ble-strap', 'ble-thermo']",
    }
    reply = await _command(sim_process, {"command": "restart"})
    assert reply["ok"] is True
    reply = await _command(
        sim_process, {"device": "ble-spo2", "command": "fail_next_connect", "error": "Nope"}
    )
    assert reply == {
        "ok": False,
        "error": "unknown connect error 'Nope', expected one of ['Failed', 'InProgress', "
        "'NotReady']",
    }
