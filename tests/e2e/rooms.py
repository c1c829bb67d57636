"""The full simulated room of the browser tests that need every kind of device.

A serial oximeter, the 8-lead OpenBCI ECG and the serial spirometer on pseudo-terminals, and a
Bluetooth LE blood-pressure cuff on the simulated bluetoothd, with the example care plan: what
the guided measurements, the specialist's view and the nurse's walk run on. ``{root}`` is
filled in by ``tests.gatewayproc.start_gateway``.
"""

from __future__ import annotations

from tests.gatewayproc import CAREPLAN

FULL_ROOM_DEVICES = ("oximeter-1", "ecg-1", "spiro-1", "cuff-1")


def full_room(room: str = "test-room") -> str:
    """The config text of the full simulated room named ``room``."""
    return FULL_ROOM.replace("ROOM_NAME", room)


FULL_ROOM = """\
[gateway]
site = "test-site"
room = "ROOM_NAME"
state_dir = "{root}/state"
[server]
port = 0
[clinical]
careplan = "CAREPLAN"
[[devices]]
id = "oximeter-1"
uri = "serial://{root}/sim/by-id/ox?codec=nonin2&baud=9600"
label = "Pulsoksymeter"
[[devices]]
id = "ecg-1"
uri = "serial://{root}/sim/by-id/ecg?codec=openbci&baud=115200&channels=I,II,V1,V2,V3,V4,V5,V6"
label = "EKG"
[[devices]]
id = "spiro-1"
uri = "serial://{root}/sim/by-id/spiro?codec=spiro&baud=115200&bypass=5"
label = "Spirometer"
[[devices]]
id = "cuff-1"
uri = "ble://C0:FF:EE:00:00:02?profile=bp"
label = "Blodtrykksmåler"
[sim]
enabled = true
dir = "{root}/sim"
scenario = "stable-copd"
seed = 1
[[sim.devices]]
id = "oximeter-1"
kind = "nonin2-oximeter"
link = "ox"
[[sim.devices]]
id = "ecg-1"
kind = "openbci-cyton"
link = "ecg"
[[sim.devices]]
id = "spiro-1"
kind = "spiro-sfm3300"
link = "spiro"
options = {{ bypass_ratio = 5 }}
[[sim.devices]]
id = "cuff-1"
kind = "ble-bp-cuff"
address = "C0:FF:EE:00:00:02"
name = "SIM BPM"
""".replace("CAREPLAN", str(CAREPLAN))
