"""Every simulated serial device kind: how to build it and which control commands it takes.

A kind's commands are ``name -> (parameters it accepts, handler)``; every serial kind also takes
the common ones (status, unplug, replug, garbage). The control socket (hwsim.control) and the
room (hwsim.room) look kinds up here, so a new kind is one entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Final, Protocol, Self

from hwsim.devices import NONIN2_KIND, SimNoninOximeter
from hwsim.errors import CommandError
from hwsim.openbci import KIND as OPENBCI_KIND
from hwsim.openbci import SimOpenbciCyton
from hwsim.patient_api import PatientSource
from hwsim.sim_oximeters import SimCms50Oximeter, SimNonin7Oximeter, SimNonin8Oximeter
from hwsim.spirometer import KIND as SPIRO_KIND
from hwsim.spirometer import SimSpirometer

NONIN7_KIND: Final = SimNonin7Oximeter.kind
NONIN8_KIND: Final = SimNonin8Oximeter.kind
CMS50_KIND: Final = SimCms50Oximeter.kind


class SimDevice(Protocol):
    """What the room and the control socket need of a simulated device."""

    device_id: str
    kind: str

    @property
    def uri(self) -> str: ...
    @property
    def link_path(self) -> str: ...
    def status(self) -> dict[str, object]: ...
    async def run(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


Handler = Callable[[Any, Mapping[str, Any]], object]
Commands = Mapping[str, tuple[frozenset[str], Handler]]


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One simulated serial device in the room."""

    id: str
    kind: str  # one of KINDS
    link_path: str  # where the gateway opens it, e.g. …/serial/by-id/usb-Nonin_…
    seed: int = 0
    hr_bpm: float = 72.0  # built-in patient (used when the room has no scenario)
    spo2_pct: float = 97.0
    perfusion: float = 0.6
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CommandError(
                f"device {self.id!r}: unknown kind {self.kind!r}, expected one of "
                + ", ".join(sorted(KINDS))
            )


def need(args: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """A command parameter; CommandError when it is missing."""
    value = args.get(name, default)
    if value is None:
        raise CommandError(f"missing parameter {name!r}")
    return value


def _set_vitals(device: Any, args: Mapping[str, Any]) -> None:
    if not {"hr_bpm", "spo2_pct", "perfusion"} & args.keys():
        raise CommandError("set_vitals needs at least one of hr_bpm, spo2_pct, perfusion")
    device.set_vitals(
        hr_bpm=args.get("hr_bpm"), spo2_pct=args.get("spo2_pct"), perfusion=args.get("perfusion")
    )


COMMON: Final[Commands] = {
    "status": (frozenset(), lambda d, a: None),
    "unplug": (frozenset(), lambda d, a: d.unplug()),
    "replug": (frozenset(), lambda d, a: d.replug()),
    "garbage": (frozenset({"n"}), lambda d, a: d.inject_garbage(need(a, "n"))),
}
_OXIMETER: Final[Commands] = {
    "sensor_off": (frozenset(), lambda d, a: d.sensor_off()),
    "sensor_on": (frozenset(), lambda d, a: d.sensor_on()),
    "set_vitals": (frozenset({"hr_bpm", "spo2_pct", "perfusion"}), _set_vitals),
}
_NONIN2: Final[Commands] = {
    **_OXIMETER,
    "truncate": (frozenset(), lambda d, a: d.truncate_next_frame()),
    "flip_bits": (frozenset({"n"}), lambda d, a: d.flip_bits(need(a, "n", 1))),
    "artifact": (frozenset({"seconds"}), lambda d, a: d.artifact(need(a, "seconds"))),
}
_OPENBCI: Final[Commands] = {
    "lead_off": (
        frozenset({"channel", "off"}),
        lambda d, a: d.lead_off(need(a, "channel"), bool(a.get("off", True))),
    ),
    "saturate": (
        frozenset({"channel", "seconds"}),
        lambda d, a: d.saturate(need(a, "channel"), need(a, "seconds")),
    ),
    "drop": (frozenset({"n"}), lambda d, a: d.drop_samples(need(a, "n"))),
}
_SPIRO: Final[Commands] = {
    "blow": (frozenset({"profile"}), lambda d, a: d.blow(a.get("profile", "normal"))),
    "drop": (frozenset({"n"}), lambda d, a: d.drop_frames(need(a, "n"))),
    "corrupt_crc": (frozenset({"n"}), lambda d, a: d.corrupt_sensor_crc(need(a, "n", 1))),
}

Factory = Callable[[DeviceSpec, PatientSource | None], SimDevice]


def _oximeter(cls: Any) -> Factory:
    def make(spec: DeviceSpec, patient: PatientSource | None) -> SimDevice:
        device: SimDevice = cls(
            spec.id,
            spec.link_path,
            seed=spec.seed,
            hr_bpm=spec.hr_bpm,
            spo2_pct=spec.spo2_pct,
            perfusion=spec.perfusion,
            patient=patient,
            **spec.options,
        )
        return device

    return make


@dataclass(frozen=True, slots=True)
class Kind:
    """How to build one kind and what it can be told to do."""

    make: Factory
    commands: Commands
    link_name: Callable[[str], str]  # device id -> a by-id style link name


KINDS: Final[Mapping[str, Kind]] = {
    NONIN2_KIND: Kind(
        _oximeter(SimNoninOximeter),
        {**COMMON, **_NONIN2},
        lambda i: f"usb-Nonin_Medical_Inc._OEM_III_Sim_{i}-if00-port0",
    ),
    NONIN7_KIND: Kind(
        _oximeter(SimNonin7Oximeter),
        {**COMMON, **_OXIMETER},
        lambda i: f"usb-Nonin_Medical_Inc._OEM_III_7_Sim_{i}-if00-port0",
    ),
    NONIN8_KIND: Kind(
        _oximeter(SimNonin8Oximeter),
        {**COMMON, **_OXIMETER},
        lambda i: f"usb-Nonin_Medical_Inc._WristOx2_8_Sim_{i}-if00-port0",
    ),
    CMS50_KIND: Kind(
        _oximeter(SimCms50Oximeter),
        {**COMMON, **_OXIMETER},
        lambda i: f"usb-Silicon_Labs_CP2102_Contec_CMS50D_Sim_{i}-if00-port0",
    ),
    OPENBCI_KIND: Kind(
        lambda s, p: SimOpenbciCyton(s.id, s.link_path, seed=s.seed, patient=p, **s.options),
        {**COMMON, **_OPENBCI},
        lambda i: f"usb-FTDI_FT231X_USB_UART_OpenBCI_Sim_{i}-if00-port0",
    ),
    SPIRO_KIND: Kind(
        lambda s, p: SimSpirometer(s.id, s.link_path, seed=s.seed, patient=p, **s.options),
        {**COMMON, **_SPIRO},
        lambda i: f"usb-Silicon_Labs_CP2102N_SFM3300_Sim_{i}-if00-port0",
    ),
}
"""Kind name -> how to build it and its commands."""


def default_link_path(
    directory: str | os.PathLike[str], device_id: str, kind: str = NONIN2_KIND
) -> str:
    """A by-id style link for a simulated device of ``kind`` under ``directory``."""
    name = KINDS[kind].link_name(device_id)
    return os.path.join(os.fspath(directory), "serial", "by-id", name)
