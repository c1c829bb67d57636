"""Each injected fault, as real bleak (unmodified BlueZ backend) observes it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError
from hwsim.bluez import SimBpCuff, SimPulseOximeter, SimThermometer
from hwsim.bluez.peripherals_plx import seed_records

from ._bleak_helpers import find, sig, subscribe
from .conftest import SimFactory

PLX_ADDR = "C0:FF:EE:00:00:01"
THERMO_ADDR = "C0:FF:EE:00:00:03"


def plx() -> SimPulseOximeter:
    return SimPulseOximeter("spo2", PLX_ADDR, name="SIM PLX")


def thermo() -> SimThermometer:
    return SimThermometer("thermo", THERMO_ADDR, name="SIM HTP")


class Disconnects:
    """A disconnected_callback that can be awaited."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.count = 0

    def __call__(self, _client: BleakClient) -> None:
        self.count += 1
        self.event.set()

    async def wait(self) -> None:
        async with asyncio.timeout(10):
            await self.event.wait()
        self.event.clear()


async def test_link_loss_in_the_middle_of_an_indication_sequence(sim_bluez: SimFactory) -> None:
    oximeter = plx()
    seed_records(oximeter, 5, start=datetime(2026, 1, 1, 10, 0, 0))
    gone = Disconnects()
    async with sim_bluez([oximeter]):
        client = BleakClient(await find(PLX_ADDR), disconnected_callback=gone)
        await client.connect()
        racp = await subscribe(client, sig(0x2A52))
        spot = await subscribe(client, sig(0x2A5E))
        oximeter.link_loss_after(2)
        await client.write_gatt_char(sig(0x2A52), bytes([0x01, 0x01]), response=True)
        await gone.wait()
        assert not client.is_connected
        got = [spot.queue.get_nowait() for _ in range(spot.queue.qsize())]
        assert [r[10] for r in got] == [0, 1]  # minutes of records 1 and 2, then the link went
        assert racp.queue.empty()  # the RACP "success" never came
        await client.disconnect()  # releases bleak's D-Bus connection (see docs: traps)
        assert oximeter.fault_counters.link_losses == 1
        # the records are still stored: a reconnect can fetch them all
        async with BleakClient(await find(PLX_ADDR)) as again:
            racp = await subscribe(again, sig(0x2A52))
            await again.write_gatt_char(sig(0x2A52), bytes([0x04, 0x01]), response=True)
            assert await racp.get() == bytes.fromhex("05000500")


async def test_out_of_range_disappears_and_comes_back(sim_bluez: SimFactory) -> None:
    oximeter = plx()
    seen = asyncio.Event()

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        if device.address == PLX_ADDR:
            seen.set()

    gone = Disconnects()
    async with sim_bluez([oximeter]) as bz:
        client = BleakClient(await find(PLX_ADDR), disconnected_callback=gone)
        await client.connect()
        async with BleakScanner(on_adv) as scanner:
            oximeter.out_of_range()
            await gone.wait()
            await client.disconnect()
            assert bz.devices == {}  # InterfacesRemoved: BlueZ forgot it
            assert PLX_ADDR not in scanner.discovered_devices_and_advertisement_data
            seen.clear()
            await asyncio.sleep(0.5)  # five advertising intervals: nothing heard
            assert not seen.is_set()
            oximeter.back_in_range()
            async with asyncio.timeout(10):
                await seen.wait()
            assert PLX_ADDR in scanner.discovered_devices_and_advertisement_data
        async with BleakClient(await find(PLX_ADDR)) as again:
            assert await again.read_gatt_char(sig(0x2A19)) == bytes([90])


async def test_adapter_power_off_and_on(sim_bluez: SimFactory) -> None:
    gone = Disconnects()
    async with sim_bluez([plx()]) as bz:
        client = BleakClient(await find(PLX_ADDR), disconnected_callback=gone)
        await client.connect()
        bz.power_off()
        await gone.wait()
        await client.disconnect()
        # bleak's own check of Adapter1.Powered, from the PropertiesChanged it received
        with pytest.raises(BleakBluetoothNotAvailableError, match="No powered Bluetooth adapters"):
            async with BleakScanner():
                pass
        bz.power_on()
        # Powered=true reaches bleak as a signal; like a gateway, retry until bleak has seen it
        for _ in range(100):
            try:
                device = await find(PLX_ADDR)
                break
            except BleakBluetoothNotAvailableError:
                await asyncio.sleep(0.05)
        async with BleakClient(device) as again:
            assert again.is_connected


@pytest.mark.parametrize(
    ("kind", "name"),
    [("InProgress", "org.bluez.Error.InProgress"), ("Failed", "org.bluez.Error.Failed")],
)
async def test_next_connect_fails_with_bluez_error(
    sim_bluez: SimFactory, kind: str, name: str
) -> None:
    oximeter = plx()
    async with sim_bluez([oximeter]):
        device = await find(PLX_ADDR)
        oximeter.fail_next_connect(kind)
        client = BleakClient(device)
        with pytest.raises(BleakDBusError) as info:
            await client.connect()
        assert info.value.dbus_error == name
        assert not client.is_connected
        await client.connect()  # the fault was for one attempt only
        assert client.is_connected
        await client.disconnect()
        assert oximeter.fault_counters.connect_errors == 1


async def test_bluetoothd_restart(sim_bluez: SimFactory) -> None:
    gone = Disconnects()
    async with sim_bluez([plx()]) as bz:
        owner_before = bz.status()["owner"]
        client = BleakClient(await find(PLX_ADDR), disconnected_callback=gone)
        await client.connect()
        await bz.restart()
        await gone.wait()
        await client.disconnect()
        assert bz.status()["owner"] != owner_before
        assert bz.restarts == 1
        async with BleakClient(await find(PLX_ADDR)) as again:
            assert await again.read_gatt_char(sig(0x2A29)) == b"Helserom Sim"


async def test_paired_device_survives_restart(sim_bluez: SimFactory) -> None:
    async with sim_bluez([plx()]) as bz:
        client = BleakClient(await find(PLX_ADDR), pair=True)
        await client.connect()
        await client.disconnect()
        await bz.restart()
        # BlueZ restores bonded devices from storage: the object is there without scanning
        assert [d.paired for d in bz.devices.values()] == [True]


async def test_garbage_payload_then_normal(sim_bluez: SimFactory) -> None:
    t = thermo()
    async with sim_bluez([t]), BleakClient(await find(THERMO_ADDR)) as client:
        inbox = await subscribe(client, sig(0x2A1C))
        t.garbage(1)
        sent = t.measure()
        assert await inbox.get() != sent
        sent = t.measure()
        assert await inbox.get() == sent
    assert t.fault_counters.garbage_payloads == 1


FLOOD_N = 20_000


async def test_notification_flood_is_paced_not_dropped(sim_bluez: SimFactory) -> None:
    t = thermo()  # floods its battery level: nothing else notifies there
    async with sim_bluez([t], queue_max=FLOOD_N) as bz:
        owner = bz.status()["owner"]
        async with BleakClient(await find(THERMO_ADDR)) as client:
            battery = await subscribe(client, sig(0x2A19))
            assert t.flood(FLOOD_N) == FLOOD_N
            counters = [int.from_bytes(await battery.get(), "little") for _ in range(FLOOD_N)]
            assert counters == list(range(FLOOD_N))  # all of them, in order
            # the bus survived: same owner, and a read still works
            assert await client.read_gatt_char(sig(0x2A29)) == b"Helserom Sim"
        assert bz.status()["owner"] == owner
        print(f"flood: {bz.pump.sent} signals sent, {bz.pump.dropped} dropped")
        assert bz.pump.dropped == 0


async def test_flood_beyond_the_queue_drops_oldest_and_counts(sim_bluez: SimFactory) -> None:
    t = thermo()
    async with sim_bluez([t], queue_max=256) as bz:
        async with BleakClient(await find(THERMO_ADDR)) as client:
            battery = await subscribe(client, sig(0x2A19))
            t.flood(1000)
            got = [int.from_bytes(await battery.get(), "little") for _ in range(256)]
        assert bz.pump.dropped == 1000 - 256
        assert got == list(range(1000 - 256, 1000))


async def test_cuff_link_loss_during_inflation_loses_the_result(sim_bluez: SimFactory) -> None:
    cuff = SimBpCuff("cuff", "C0:FF:EE:00:00:02", name="SIM BPM")
    cuff.configure_timing(inflate_s=0.5, deflate_s=0.5, icp_hz=10.0)
    gone = Disconnects()
    async with sim_bluez([cuff]):
        client = BleakClient(await find(cuff.address), disconnected_callback=gone)
        await client.connect()
        bpm = await subscribe(client, sig(0x2A35))
        icp = await subscribe(client, sig(0x2A36))
        cuff.link_loss_after(3)
        cuff.start_measurement()
        await gone.wait()
        await client.disconnect()
        assert icp.queue.qsize() == 3
        assert bpm.queue.empty()
        assert not cuff.measuring


async def test_bluetoothd_crash_leaves_bleak_stale_until_it_tries(sim_bluez: SimFactory) -> None:
    """A crashed bluetoothd sends no signal: bleak only learns when a call fails."""
    gone = Disconnects()
    async with sim_bluez([plx()]) as bz:
        client = BleakClient(await find(PLX_ADDR), disconnected_callback=gone)
        await client.connect()
        await bz.restart(crash=True)
        with pytest.raises(BleakError) as info:
            await client.read_gatt_char(sig(0x2A19))
        print(f"read after crash: {type(info.value).__name__}: {info.value}")
        assert gone.count == 0  # no Connected=false ever came
        with contextlib.suppress(BleakError):
            await client.disconnect()  # the device object is gone: may fail; drop the client
        async with BleakClient(await find(PLX_ADDR)) as again:
            assert await again.read_gatt_char(sig(0x2A19)) == bytes([90])
