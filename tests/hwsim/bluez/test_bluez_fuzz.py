"""Random writes to every writable characteristic through real bleak: errors, never a crash.

Seeded; prints its seed and honours HELSEROM_FUZZ_SEED.
"""

from __future__ import annotations

import os
import random

from bleak import BleakClient
from bleak.exc import BleakError
from hwsim.bluez import SimBpCuff, SimChestStrap
from hwsim.bluez.peripherals_plx import SimPulseOximeter

from ._bleak_helpers import find, sig, subscribe
from .conftest import SimFactory

PMD_CP = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
WRITES = 150


def _payload(rng: random.Random, first: tuple[int, ...]) -> bytes:
    n = rng.choice((0, 1, 2, 3, 10, rng.randint(0, 40)))
    body = bytes(rng.getrandbits(8) for _ in range(n))
    if body and rng.random() < 0.6:  # mostly plausible op codes, to get past the first check
        body = bytes([rng.choice(first)]) + body[1:]
    return body


async def test_fuzzed_control_point_writes(sim_bluez: SimFactory) -> None:
    seed = int(os.environ.get("HELSEROM_FUZZ_SEED", random.randrange(2**32)))
    print(f"bluez fuzz seed: {seed} (replay with HELSEROM_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    plx = SimPulseOximeter("spo2", "C0:FF:EE:00:00:01", name="SIM PLX")
    cuff = SimBpCuff("cuff", "C0:FF:EE:00:00:02", name="SIM BPM")
    strap = SimChestStrap("strap", "C0:FF:EE:00:00:05", name="Polar H10 SIM")
    targets = [
        (plx, sig(0x2A52), (1, 2, 3, 4, 5, 6, 7)),
        (cuff, sig(0x2A2B), (0xE9, 0xEA)),
        (strap, PMD_CP, (1, 2, 3, 4)),
    ]
    outcomes = {"accepted": 0, "refused": 0}
    refusals: set[str] = set()
    async with sim_bluez([plx, cuff, strap]):
        for peripheral, uuid, first in targets:
            async with BleakClient(await find(peripheral.address)) as client:
                replies = await subscribe(client, uuid)
                if uuid == PMD_CP:
                    await subscribe(client, PMD_DATA)
                elif uuid == sig(0x2A52):
                    await subscribe(client, sig(0x2A5E))
                for _ in range(WRITES // len(targets)):
                    try:
                        await client.write_gatt_char(uuid, _payload(rng, first), response=True)
                        outcomes["accepted"] += 1
                    except BleakError as exc:
                        # a refusal BlueZ could give, never a simulator crash (ServiceError)
                        assert "org.freedesktop.DBus.Error" not in str(exc), exc
                        refusals.add(type(exc).__name__ + ":" + str(exc)[:60])
                        outcomes["refused"] += 1
                # still connected, still answering
                assert client.is_connected
                assert await client.read_gatt_char(sig(0x2A29)) == b"Helserom Sim"
                if uuid == PMD_CP:
                    while not replies.queue.empty():
                        reply = replies.queue.get_nowait()
                        assert reply[0] == 0xF0 and len(reply) >= 5 and reply[3] <= 13
            assert peripheral.fault_counters.link_losses == 0
    print(f"fuzz outcomes: {outcomes}; refusals: {sorted(refusals)}")
    assert outcomes["accepted"] > 0 and outcomes["refused"] > 0
