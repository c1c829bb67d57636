"""Run a one-oximeter simulated room until Ctrl-C: `python -m hwsim --dir /tmp/hwsim`.

Prints the device URI and the control socket; drive it from another shell with, e.g.,
`python -m hwsim --dir /tmp/hwsim --send '{"device": "oximeter-1", "command": "unplug"}'`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from hwsim.control import send_command
from hwsim.devices import NONIN2_KIND
from hwsim.errors import HwsimError
from hwsim.room import DeviceSpec, SimRoom, default_link_path

CONTROL_SOCKET_NAME = "control.sock"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hwsim", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="directory for the device link and socket")
    parser.add_argument("--id", default="oximeter-1", help="device id (default oximeter-1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hr", type=float, default=72.0, help="heart rate, bpm")
    parser.add_argument("--spo2", type=float, default=97.0, help="SpO2, percent")
    parser.add_argument("--send", metavar="JSON", help="send one command to a running room")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    spec = DeviceSpec(
        args.id,
        NONIN2_KIND,
        default_link_path(args.dir, args.id),
        seed=args.seed,
        hr_bpm=args.hr,
        spo2_pct=args.spo2,
    )
    control = os.path.join(args.dir, CONTROL_SOCKET_NAME)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with SimRoom([spec], control_socket=control) as room:
        for device_id, uri in room.uris.items():
            print(f"{device_id} {uri}", flush=True)
        print(f"control {control}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        if args.send:
            socket_path = os.path.join(args.dir, CONTROL_SOCKET_NAME)
            reply = asyncio.run(send_command(socket_path, json.loads(args.send)))
            print(json.dumps(reply))
            return 0 if reply.get("ok") else 1
        asyncio.run(_serve(args))
    except (HwsimError, json.JSONDecodeError) as exc:
        print(f"hwsim: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
