"""JSON-lines control commands for a running :class:`~hwsim.bluez.daemon.SimBluez`.

The same shape as :mod:`hwsim.control` (one JSON object per line), so the room's control socket
can route BLE commands here::

    {"device": "cuff-1", "command": "start_measurement"}
    {"device": "spo2-1", "command": "link_loss_after", "n": 2}
    {"command": "restart"}                                  # no device: the adapter/daemon
    {"ok": true, "command": "restart", "status": {...}}

Peripheral commands: status, link_loss, link_loss_after (n), out_of_range, back_in_range,
fail_next_connect (error: InProgress | Failed | NotReady), garbage (n), flood (n), set_battery
(percent), set_vitals (fields of VitalSigns), measure (thermometer, scale), spot_check
(oximeter), start_measurement (cuff). Adapter commands: status, power_off, power_on, restart.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from typing import Any, Final

from hwsim.bluez.daemon import SimBluez
from hwsim.bluez.peripherals import SimPeripheral, SimThermometer, SimWeightScale
from hwsim.bluez.peripherals_cuff import SimBpCuff
from hwsim.bluez.peripherals_plx import SimPulseOximeter
from hwsim.errors import CommandError


def _need(args: Mapping[str, Any], name: str) -> Any:
    if name not in args:
        raise CommandError(f"missing parameter {name!r}")
    return args[name]


def _measure(p: SimPeripheral, args: Mapping[str, Any]) -> None:
    if isinstance(p, SimThermometer | SimWeightScale):
        p.measure()
    elif isinstance(p, SimPulseOximeter):
        p.spot_check()
    elif isinstance(p, SimBpCuff):
        p.start_measurement()
    else:
        raise CommandError(f"{p.id!r} ({p.kind}) has no measure command")


def _set_vitals(p: SimPeripheral, args: Mapping[str, Any]) -> None:
    p.set_vitals(**{k: v for k, v in args.items() if k not in ("device", "command")})


_PeripheralHandler = Callable[[SimPeripheral, Mapping[str, Any]], object]

PERIPHERAL_COMMANDS: Final[Mapping[str, _PeripheralHandler]] = {
    "status": lambda p, a: None,
    "link_loss": lambda p, a: p.link_loss(),
    "link_loss_after": lambda p, a: p.link_loss_after(int(_need(a, "n"))),
    "out_of_range": lambda p, a: p.out_of_range(),
    "back_in_range": lambda p, a: p.back_in_range(),
    "fail_next_connect": lambda p, a: p.fail_next_connect(str(a.get("error", "InProgress"))),
    "garbage": lambda p, a: p.garbage(int(a.get("n", 1))),
    "flood": lambda p, a: p.flood(int(_need(a, "n"))),
    "set_battery": lambda p, a: p.set_battery(int(_need(a, "percent"))),
    "set_vitals": _set_vitals,
    "measure": _measure,
    "spot_check": _measure,
    "start_measurement": _measure,
}

ADAPTER_COMMANDS: Final[Mapping[str, Callable[[SimBluez], Awaitable[None] | None]]] = {
    "status": lambda bz: None,
    "power_off": lambda bz: bz.power_off(),
    "power_on": lambda bz: bz.power_on(),
    "restart": lambda bz: bz.restart(),
}


def peripheral_status(p: SimPeripheral) -> dict[str, Any]:
    """What a peripheral reports in a command reply."""
    return {
        "kind": p.kind,
        "address": p.address,
        "in_range": p.in_range,
        "connected": p.connected,
        "notifications_sent": p.notifications_sent,
        "stored": p.stored_count,
        "faults": asdict(p.fault_counters),
    }


async def handle(bz: SimBluez, request: Mapping[str, Any]) -> dict[str, Any]:
    """Carry out one command; errors come back as ``{"ok": false, "error": …}``."""
    command = request.get("command")
    device = request.get("device")
    try:
        if not isinstance(command, str):
            raise CommandError("missing 'command'")
        if device is None:
            if command not in ADAPTER_COMMANDS:
                raise CommandError(
                    f"unknown adapter command {command!r}, expected one of "
                    f"{sorted(ADAPTER_COMMANDS)}"
                )
            pending = ADAPTER_COMMANDS[command](bz)
            if pending is not None:
                await pending
            return {"ok": True, "command": command, "status": bz.status()}
        p = bz.peripherals.get(str(device))
        if p is None:
            raise CommandError(f"unknown device {device!r}: the room has {sorted(bz.peripherals)}")
        if command not in PERIPHERAL_COMMANDS:
            raise CommandError(
                f"unknown command {command!r}, expected one of {sorted(PERIPHERAL_COMMANDS)}"
            )
        PERIPHERAL_COMMANDS[command](p, request)
        return {"ok": True, "device": device, "command": command, "status": peripheral_status(p)}
    except (CommandError, ValueError, TypeError) as exc:
        return {"ok": False, "error": str(exc)}
