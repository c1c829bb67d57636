"""Real bleak (BlueZ backend, unmodified) against the simulated bluetoothd: scan, connect, GATT.

Expected bytes are written out by hand from the SIG specs in each test, not produced by hwsim's
encoders.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from hwsim.bluez import (
    SimBpCuff,
    SimChestStrap,
    SimPulseOximeter,
    SimThermometer,
    SimWeightScale,
)
from hwsim.bluez.peripherals import DEFAULT_VITALS
from hwsim.bluez.peripherals_plx import seed_records
from hwsim.patient import Patient
from hwsim.patient_api import VitalSigns
from hwsim.scenario import builtin_scenario
from numpy.typing import NDArray

from ._bleak_helpers import date_time, find, sig, subscribe
from .conftest import SimFactory

PMD_SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CP = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"


def room() -> list[SimThermometer | SimWeightScale | SimPulseOximeter | SimBpCuff | SimChestStrap]:
    return [
        SimPulseOximeter("spo2", "C0:FF:EE:00:00:01", name="SIM PLX"),
        SimBpCuff("cuff", "C0:FF:EE:00:00:02", name="SIM BPM"),
        SimThermometer("thermo", "C0:FF:EE:00:00:03", name="SIM HTP"),
        SimWeightScale("scale", "C0:FF:EE:00:00:04", name="SIM WSP"),
        SimChestStrap("strap", "C0:FF:EE:00:00:05", name="Polar H10 SIM"),
    ]


ADVERTISED = {
    "C0:FF:EE:00:00:01": sig(0x1822),
    "C0:FF:EE:00:00:02": sig(0x1810),
    "C0:FF:EE:00:00:03": sig(0x1809),
    "C0:FF:EE:00:00:04": sig(0x181D),
    "C0:FF:EE:00:00:05": sig(0x180D),
}


async def test_scanner_finds_every_peripheral_with_its_service_uuid(sim_bluez: SimFactory) -> None:
    seen: dict[str, AdvertisementData] = {}
    all_seen = asyncio.Event()

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        seen[device.address] = adv
        if seen.keys() >= ADVERTISED.keys():
            all_seen.set()

    async with sim_bluez(room()), BleakScanner(on_adv):
        async with asyncio.timeout(10):
            await all_seen.wait()
    for address, uuid in ADVERTISED.items():
        assert seen[address].service_uuids == [uuid]
        assert seen[address].rssi < 0
    assert seen["C0:FF:EE:00:00:05"].local_name == "Polar H10 SIM"
    assert seen["C0:FF:EE:00:00:05"].manufacturer_data == {0x006B: b"hwsim"}


@pytest.mark.parametrize("address", sorted(ADVERTISED))
async def test_scan_filter_with_full_128_bit_uuid(sim_bluez: SimFactory, address: str) -> None:
    hits: list[str] = []
    enough = asyncio.Event()

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        hits.append(device.address)
        if hits.count(address) >= 3:
            enough.set()

    async with sim_bluez(room()) as bz:
        async with BleakScanner(on_adv, service_uuids=[ADVERTISED[address]]):
            async with asyncio.timeout(10):
                await enough.wait()
        # the simulated BlueZ only created the device that matched its discovery filter
        assert [d.peripheral.address for d in bz.devices.values()] == [address]
    assert set(hits) == {address}


async def test_device_information_and_battery(sim_bluez: SimFactory) -> None:
    async with sim_bluez(room()) as bz:
        device = await find("C0:FF:EE:00:00:03")
        async with BleakClient(device) as client:
            assert await client.read_gatt_char(sig(0x2A29)) == b"Helserom Sim"
            assert await client.read_gatt_char(sig(0x2A24)) == b"Sim Thermometer"
            assert await client.read_gatt_char(sig(0x2A25)) == b"SIM0001"
            assert await client.read_gatt_char(sig(0x2A26)) == b"1.0.0"
            assert await client.read_gatt_char(sig(0x2A27)) == b"rev-A"
            assert await client.read_gatt_char(sig(0x2A28)) == b"hwsim-bluez"
            # 40-bit manufacturer id 1, then OUI 00-A0-B1, both little endian
            assert await client.read_gatt_char(sig(0x2A23)) == bytes.fromhex("0100000000b1a000")
            assert await client.read_gatt_char(sig(0x2A19)) == bytes([90])
            battery = await subscribe(client, sig(0x2A19))
            bz.peripherals["thermo"].set_battery(41)
            assert await battery.get() == bytes([41])
            services = {s.uuid for s in client.services}
            assert services == {sig(0x1809), sig(0x180F), sig(0x180A)}
            # BlueZ shapes: …/dev_C0_FF_EE_00_00_03/service000a/char000b/desc000d
            temp = client.services.get_characteristic(sig(0x2A1C))
            assert temp is not None
            assert temp.obj[0] == "/org/bluez/hci0/dev_C0_FF_EE_00_00_03/service000a/char000b"
            assert temp.properties == ["indicate"]
            (cccd,) = temp.descriptors
            assert cccd.uuid == sig(0x2902)
            assert cccd.obj[0].endswith("/char000b/desc000d")


async def test_gatt_errors_carry_bluez_names(sim_bluez: SimFactory) -> None:
    async with sim_bluez(room()):
        device = await find("C0:FF:EE:00:00:03")
        async with BleakClient(device) as client:
            with pytest.raises(BleakError, match="WRITE_NOT_PERMITTED"):
                await client.write_gatt_char(sig(0x2A29), b"x", response=True)
            with pytest.raises(BleakError, match="READ_NOT_PERMITTED"):
                await client.read_gatt_char(sig(0x2A1C))
            with pytest.raises(BleakError, match=r"org\.bluez\.Error\.NotSupported"):
                await client.start_notify(sig(0x2A1D), lambda c, d: None)


async def test_thermometer_indication_bytes(sim_bluez: SimFactory) -> None:
    thermo = SimThermometer("thermo", "C0:FF:EE:00:00:03", name="SIM HTP")
    async with sim_bluez([thermo]), BleakClient(await find(thermo.address)) as client:
        assert await client.read_gatt_char(sig(0x2A1D)) == bytes([3])  # ear
        inbox = await subscribe(client, sig(0x2A1C))
        before = datetime.now().replace(microsecond=0)
        thermo.measure()
        value = await inbox.get()
        after = datetime.now()
    # flags 0x02 (timestamp, Celsius); FLOAT 36.8 = mantissa 3680 (0x000E60), exponent -2 (0xFE)
    assert value[:5] == bytes.fromhex("02600e00fe")
    assert before <= date_time(value[5:12]) <= after
    assert len(value) == 12


async def test_weight_scale_stored_measurement_delivered_on_subscribe(
    sim_bluez: SimFactory,
) -> None:
    scale = SimWeightScale("scale", "C0:FF:EE:00:00:04", name="SIM WSP")
    async with sim_bluez([scale]):
        scale.measure()  # nobody connected: stored
        assert scale.stored_count == 1
        async with BleakClient(await find(scale.address)) as client:
            # feature: bit 0 time stamp, resolution code 7 (0.005 kg) in bits 3..6 -> 0x39
            assert await client.read_gatt_char(sig(0x2A9E)) == bytes.fromhex("39000000")
            inbox = await subscribe(client, sig(0x2A9D))
            value = await inbox.get()
    # flags 0x02 (SI, timestamp); 72.5 kg / 0.005 = 14500 = 0x38A4
    assert value[:3] == bytes.fromhex("02a438")
    assert len(value) == 10
    assert scale.stored_count == 0


async def test_oximeter_continuous_spot_check_and_features(sim_bluez: SimFactory) -> None:
    plx = SimPulseOximeter("spo2", "C0:FF:EE:00:00:01", name="SIM PLX")
    async with sim_bluez([plx]), BleakClient(await find(plx.address)) as client:
        # storage (bit 2) + timestamp (bit 3) + PAI (bit 6) = 0x004C
        assert await client.read_gatt_char(sig(0x2A60)) == bytes.fromhex("4c00")
        continuous = await subscribe(client, sig(0x2A5F))
        # flags 0x10 (PAI); SpO2 97 = 0x0061; PR 72 = 0x0048; PAI 5.2 = 52 * 10^-1 = 0xF034
        assert await continuous.get() == bytes.fromhex("10610048003" + "4f0")
        spot = await subscribe(client, sig(0x2A5E))
        plx.spot_check()
        value = await spot.get()
    # flags 0x09 (timestamp, PAI)
    assert value[:5] == bytes.fromhex("0961004800")
    assert value[12:] == bytes.fromhex("34f0")


async def test_racp_reports_stored_records(sim_bluez: SimFactory) -> None:
    plx = SimPulseOximeter("spo2", "C0:FF:EE:00:00:01", name="SIM PLX")
    seed_records(plx, 3, start=datetime(2026, 1, 1, 10, 0, 0))
    async with sim_bluez([plx]), BleakClient(await find(plx.address)) as client:
        racp = await subscribe(client, sig(0x2A52))
        spot = await subscribe(client, sig(0x2A5E))
        await client.write_gatt_char(sig(0x2A52), bytes([0x04, 0x01]), response=True)
        assert await racp.get() == bytes.fromhex("05000300")  # 3 records
        await client.write_gatt_char(sig(0x2A52), bytes([0x01, 0x01]), response=True)
        records = [await spot.get() for _ in range(3)]
        assert await racp.get() == bytes.fromhex("06000101")  # report: success
        await client.write_gatt_char(sig(0x2A52), bytes([0x01, 0x05]), response=True)
        assert await racp.get() == bytes.fromhex("06000104")  # "first": operator unsupported
        await client.write_gatt_char(sig(0x2A52), bytes([0x02, 0x01]), response=True)
        assert await racp.get() == bytes.fromhex("06000201")  # deleted
        await client.write_gatt_char(sig(0x2A52), bytes([0x01, 0x01]), response=True)
        assert await racp.get() == bytes.fromhex("06000106")  # no records found
    # first record: SpO2 95 (0x5F), PR 60 (0x3C), 2026-01-01 10:00:00, PAI 4.0 = 40e-1 (0xF028)
    assert records[0] == bytes.fromhex("095f003c00ea0701010a000028f0")
    assert [date_time(r[5:12]).minute for r in records] == [0, 1, 2]


async def test_racp_without_indications_is_refused_with_att_error(sim_bluez: SimFactory) -> None:
    plx = SimPulseOximeter("spo2", "C0:FF:EE:00:00:01", name="SIM PLX")
    async with sim_bluez([plx]), BleakClient(await find(plx.address)) as client:
        with pytest.raises(BleakError, match="CCCD_IMPROPERLY_CONFIGURED"):
            await client.write_gatt_char(sig(0x2A52), bytes([0x01, 0x01]), response=True)


async def test_cuff_clock_stored_and_live_measurement(sim_bluez: SimFactory) -> None:
    cuff = SimBpCuff("cuff", "C0:FF:EE:00:00:02", name="SIM BPM")
    cuff.configure_timing(inflate_s=0.5, deflate_s=0.5, icp_hz=10.0)
    async with sim_bluez([cuff]):
        stored = cuff.start_measurement()  # before any client: stored, clock not set
        assert stored is not None
        assert not cuff.clock_set
        async with BleakClient(await find(cuff.address)) as client:
            assert await client.read_gatt_char(sig(0x2A49)) == bytes.fromhex("0500")
            clock = await client.read_gatt_char(sig(0x2A2B))
            assert clock[:2] == bytes.fromhex("d007")  # year 2000: clock not set
            bpm = await subscribe(client, sig(0x2A35))
            first = await bpm.get()
            # 2026-11-23 10:20:30, Monday (1), 0/256 s, adjust reason "manual" (1)
            await client.write_gatt_char(
                sig(0x2A2B), bytes.fromhex("ea070b170a141e010001"), response=True
            )
            assert cuff.clock_set
            clock = await client.read_gatt_char(sig(0x2A2B))
            assert clock[:6] == bytes.fromhex("ea070b170a14")
            with pytest.raises(BleakError, match="INVALID_ATTRIBUTE_VALUE_LENGTH"):
                await client.write_gatt_char(sig(0x2A2B), b"\x01\x02", response=True)
            icp = await subscribe(client, sig(0x2A36))
            cuff.start_measurement()
            # one sender, one bus: every ICP notification is queued before the result arrives
            second = await bpm.get()
            pressures: list[int] = []
            while not icp.queue.empty():
                value = icp.queue.get_nowait()
                # flags 0; cuff pressure SFLOAT exp 0; diastolic and MAP are NaN (0x07FF)
                assert value[0] == 0 and value[3:7] == bytes.fromhex("ff07ff07")
                pressures.append(int.from_bytes(value[1:3], "little"))
    # stored: flags 0x06 (timestamp, pulse); 120/80/93 mmHg; pulse 72; taken in year 2000
    assert first[:7] == bytes.fromhex("06780050005d00")
    assert first == stored
    assert date_time(first[7:14]).year == 2000
    assert first[14:] == bytes.fromhex("4800")
    assert second[:7] == first[:7]
    assert date_time(second[7:14]) >= datetime(2026, 11, 23, 10, 20, 30)
    assert date_time(second[7:14]) < datetime(2026, 11, 23, 10, 20, 30) + timedelta(hours=1)
    # 0.5 s up and 0.5 s down at 10 Hz; inflation rises past systolic (+30), deflation falls
    # below diastolic (-10)
    assert len(pressures) == 10
    peak = pressures.index(max(pressures))
    assert max(pressures) == 150 and pressures[: peak + 1] == sorted(pressures[: peak + 1])
    assert pressures[-1] == 70


class CountingPatient(Patient):
    """The scenario patient, but its ECG counts samples from -36 µV up: continuity checkable."""

    def __init__(self) -> None:
        super().__init__(builtin_scenario("stable-copd"))
        self.first: int | None = None
        self.leads: list[Sequence[str]] = []

    def vitals(self, t_s: float) -> VitalSigns:
        return DEFAULT_VITALS

    def ecg_uv(
        self, t0_s: float, n: int, fs_hz: float, leads: Sequence[str]
    ) -> NDArray[np.float64]:
        self.leads.append(leads)
        start = round(t0_s * fs_hz)
        if self.first is None:
            self.first = start
        k = np.arange(start, start + n, dtype=np.float64) - self.first
        return (k - 36.0)[:, None]


def _s24(raw: bytes) -> int:
    return int.from_bytes(raw, "little", signed=True)


async def test_chest_strap_heart_rate_and_pmd_ecg(sim_bluez: SimFactory) -> None:
    patient = CountingPatient()
    strap = SimChestStrap("strap", "C0:FF:EE:00:00:05", name="Polar H10 SIM", patient=patient)
    async with sim_bluez([strap]), BleakClient(await find(strap.address)) as client:
        assert await client.read_gatt_char(sig(0x2A38)) == bytes([1])  # chest
        assert await client.read_gatt_char(PMD_CP) == bytes.fromhex("0f010000000000")
        cp = await subscribe(client, PMD_CP)
        data = await subscribe(client, PMD_DATA)
        await client.write_gatt_char(PMD_CP, bytes([0x01, 0x00]), response=True)
        # settings: sample rate 130 (0x0082), resolution 14 (0x000E)
        assert await cp.get() == bytes.fromhex("f0010000000001820001010e00")
        await client.write_gatt_char(PMD_CP, bytes.fromhex("02000001820001010e00"), True)
        assert await cp.get() == bytes.fromhex("f002000000")
        frames = [await data.get() for _ in range(3)]
        await client.write_gatt_char(PMD_CP, bytes([0x02, 0x00]), response=True)
        assert await cp.get() == bytes.fromhex("f002000600")  # already in state
        await client.write_gatt_char(PMD_CP, bytes([0x02, 0x02]), response=True)
        assert await cp.get() == bytes.fromhex("f002020300")  # ACC: not supported
        await client.write_gatt_char(PMD_CP, bytes([0x03, 0x00]), response=True)
        assert await cp.get() == bytes.fromhex("f003000000")
    samples: list[int] = []
    stamps: list[int] = []
    for frame in frames:
        assert len(frame) == 10 + 73 * 3 and frame[0] == 0x00 and frame[9] == 0x00
        stamps.append(int.from_bytes(frame[1:9], "little"))
        samples += [_s24(frame[i : i + 3]) for i in range(10, len(frame), 3)]
    # 3-byte two's complement, from -36 µV (DC FF FF) through zero, no gap and no repeat
    assert frames[0][10:13] == bytes.fromhex("dcffff")
    assert samples == list(range(-36, -36 + 3 * 73))
    # each frame is stamped with its last sample: 73 samples at 130 Hz apart (561.538 ms)
    diffs_ns = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(abs(d - 73e9 / 130) < 1 for d in diffs_ns), diffs_ns
    assert patient.leads[0] == ("II",)


async def test_heart_rate_notification_bytes(sim_bluez: SimFactory) -> None:
    strap = SimChestStrap("strap", "C0:FF:EE:00:00:05", name="Polar H10 SIM")
    strap.set_vitals(hr_bpm=60.0)
    async with sim_bluez([strap]), BleakClient(await find(strap.address)) as client:
        hr = await subscribe(client, sig(0x2A37))
        value = await hr.get()
    # flags 0x16: RR present (0x10), contact supported (0x04) + detected (0x02); 60 bpm;
    # one RR of 1000 ms = 1024/1024 s = 0x0400
    assert value == bytes.fromhex("163c0004")


async def test_two_devices_connected_at_once(sim_bluez: SimFactory) -> None:
    plx = SimPulseOximeter("spo2", "C0:FF:EE:00:00:01", name="SIM PLX")
    strap = SimChestStrap("strap", "C0:FF:EE:00:00:05", name="Polar H10 SIM")
    async with (
        sim_bluez([plx, strap]),
        BleakClient(await find(plx.address)) as a,
        BleakClient(await find(strap.address)) as b,
    ):
        spo2 = await subscribe(a, sig(0x2A5F))
        hr = await subscribe(b, sig(0x2A37))
        got_spo2, got_hr = await asyncio.gather(spo2.get(), hr.get())
        assert got_spo2 == bytes.fromhex("10610048003" + "4f0")
        assert got_hr[0] == 0x16 and got_hr[1] == 72
