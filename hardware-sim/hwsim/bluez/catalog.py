"""Kinds of simulated BLE peripherals, specs to build them from, and a default room of five."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from hwsim.bluez.peripherals import SimPeripheral, SimThermometer, SimWeightScale
from hwsim.bluez.peripherals_cuff import SimBpCuff
from hwsim.bluez.peripherals_plx import SimPulseOximeter
from hwsim.bluez.peripherals_strap import SimChestStrap
from hwsim.errors import HwsimError
from hwsim.patient_api import PatientSource

KINDS: Final[Mapping[str, type[SimPeripheral]]] = {
    cls.kind: cls
    for cls in (SimPulseOximeter, SimBpCuff, SimThermometer, SimWeightScale, SimChestStrap)
}


@dataclass(frozen=True, slots=True)
class BlePeripheralSpec:
    """One simulated BLE peripheral in the room."""

    id: str
    kind: str  # one of KINDS
    address: str  # AA:BB:CC:DD:EE:FF, what the gateway's config names
    name: str
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise HwsimError(
                f"peripheral {self.id!r}: unknown kind {self.kind!r}, expected one of "
                f"{sorted(KINDS)}"
            )


def make_peripheral(
    spec: BlePeripheralSpec, patient: PatientSource | None = None, t0_monotonic: float | None = None
) -> SimPeripheral:
    """Build the peripheral a spec describes."""
    return KINDS[spec.kind](
        spec.id,
        spec.address,
        name=spec.name,
        patient=patient,
        seed=spec.seed,
        serial=f"SIM-{spec.id}",
        t0_monotonic=t0_monotonic,
    )


DEFAULT_SPECS: Final[Sequence[BlePeripheralSpec]] = (
    BlePeripheralSpec("ble-spo2", SimPulseOximeter.kind, "C0:FF:EE:00:00:01", "SIM PLX"),
    BlePeripheralSpec("ble-bp", SimBpCuff.kind, "C0:FF:EE:00:00:02", "SIM BPM"),
    BlePeripheralSpec("ble-thermo", SimThermometer.kind, "C0:FF:EE:00:00:03", "SIM HTP"),
    BlePeripheralSpec("ble-scale", SimWeightScale.kind, "C0:FF:EE:00:00:04", "SIM WSP"),
    BlePeripheralSpec("ble-strap", SimChestStrap.kind, "C0:FF:EE:00:00:05", "Polar H10 SIM"),
)


def default_peripherals(patient: PatientSource | None = None) -> list[SimPeripheral]:
    """The five simulated BLE devices of a default room."""
    return [make_peripheral(spec, patient) for spec in DEFAULT_SPECS]
