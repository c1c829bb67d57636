"""A simulated bluetoothd (BlueZ D-Bus API on a private bus) and simulated BLE health devices.

Entry point for the room and for tests::

    from hwsim.bluez import SimBluez, SimPulseOximeter
    async with SimBluez([SimPulseOximeter("spo2-1", "C0:FF:EE:00:00:01", name="PLX")]) as bz:
        bz.bus_address                       # DBUS_SYSTEM_BUS_ADDRESS for bleak
        bz.peripherals["spo2-1"].link_loss()

See docs/simulator-ble.md.
"""

from hwsim.bluez.bus import PrivateBus
from hwsim.bluez.catalog import BlePeripheralSpec, default_peripherals, make_peripheral
from hwsim.bluez.daemon import SimBluez
from hwsim.bluez.peripherals import SimPeripheral, SimThermometer, SimWeightScale
from hwsim.bluez.peripherals_cuff import SimBpCuff
from hwsim.bluez.peripherals_plx import SimPulseOximeter
from hwsim.bluez.peripherals_strap import SimChestStrap

__all__ = [
    "BlePeripheralSpec",
    "PrivateBus",
    "SimBluez",
    "SimBpCuff",
    "SimChestStrap",
    "SimPeripheral",
    "SimPulseOximeter",
    "SimThermometer",
    "SimWeightScale",
    "default_peripherals",
    "make_peripheral",
]
