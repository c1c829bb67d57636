"""The simulated BLE devices driven by the room's scenario patient (hwsim.patient.Patient)."""

from __future__ import annotations

import time

from bleak import BleakClient
from hwsim.bluez import SimChestStrap, SimWeightScale
from hwsim.patient import Patient
from hwsim.scenario import builtin_scenario

from ._bleak_helpers import find, sig, subscribe
from .conftest import SimFactory

PMD_CP = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"


async def test_strap_and_scale_follow_the_patient(sim_bluez: SimFactory) -> None:
    patient = Patient(builtin_scenario("stable-copd"), seed=1)
    t0 = time.monotonic()
    strap = SimChestStrap(
        "strap", "C0:FF:EE:00:00:05", name="Polar H10 SIM", patient=patient, t0_monotonic=t0
    )
    scale = SimWeightScale(
        "scale", "C0:FF:EE:00:00:04", name="SIM WSP", patient=patient, t0_monotonic=t0
    )
    async with sim_bluez([strap, scale]):
        async with BleakClient(await find(strap.address)) as client:
            await subscribe(client, PMD_CP)
            data = await subscribe(client, PMD_DATA)
            await client.write_gatt_char(PMD_CP, bytes([0x02, 0x00]), response=True)
            frames = [await data.get() for _ in range(4)]
        async with BleakClient(await find(scale.address)) as client:
            inbox = await subscribe(client, sig(0x2A9D))
            scale.measure()
            weight = await inbox.get()
    samples_uv = [
        int.from_bytes(f[i : i + 3], "little", signed=True)
        for f in frames
        for i in range(10, len(f), 3)
    ]
    # a real ECG at ~1 mV scale: R peaks well above the baseline, nothing beyond ±5 mV
    assert max(samples_uv) > 500
    assert max(abs(s) for s in samples_uv) < 5000
    # stable-copd weighs 82.0 kg: 82.0 / 0.005 = 16400 = 0x4010
    assert weight[1:3] == bytes.fromhex("1040")
