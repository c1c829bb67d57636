"""Run the simulated bluetoothd by hand: ``python -m hwsim.bluez [--dir D] [--control SOCK]``.

Prints ``DBUS_SYSTEM_BUS_ADDRESS=…`` (export it in the shell that runs bleak or the gateway),
then serves JSON-lines commands (:mod:`hwsim.bluez.commands`) on the control socket until
interrupted. For example::

    python -m hwsim.bluez --control /tmp/hwbz.sock &
    echo '{"device": "ble-bp", "command": "start_measurement"}' | socat - UNIX:/tmp/hwbz.sock
"""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys

from hwsim.bluez.catalog import default_peripherals
from hwsim.bluez.commands import handle
from hwsim.bluez.daemon import SimBluez

MAX_LINE_BYTES = 64 * 1024


async def _serve_client(
    bz: SimBluez, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while line := await reader.readline():
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a command is a JSON object")
                reply = await handle(bz, request)
            except ValueError as exc:
                reply = {"ok": False, "error": f"bad command line: {exc}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _announce(bz: SimBluez) -> None:
    sys.stdout.write(f"DBUS_SYSTEM_BUS_ADDRESS={bz.bus_address}\n")
    sys.stdout.flush()


async def _main(directory: str | None, control: str | None) -> None:
    # SIGTERM (a supervisor stopping us) unwinds like Ctrl-C, so the dbus-daemon child is
    # killed on the way out instead of being orphaned
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with SimBluez(default_peripherals(), directory) as bz:
        if control is None:
            _announce(bz)
            await asyncio.Event().wait()
            return
        server = await asyncio.start_unix_server(
            lambda r, w: _serve_client(bz, r, w), path=control, limit=MAX_LINE_BYTES
        )
        _announce(bz)  # only now: whoever reads the address can use the control socket too
        try:
            async with server:
                await server.serve_forever()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(control)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m hwsim.bluez", description=__doc__)
    parser.add_argument("--dir", help="directory for the bus socket (short, under /tmp)")
    parser.add_argument("--control", help="unix socket for JSON-lines commands")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(_main(args.dir, args.control))


if __name__ == "__main__":
    main()
