"""The kiosk's pairing manager on a real gateway: scan the simulated bluetoothd, bind, forget.

Bindings live in the store, so a device bound at the kiosk comes back after a restart, and a
forgotten one does not. Devices IT configured cannot be forgotten from the kiosk.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.gatewayproc import GatewayProcess, start_gateway, wait_for

CONFIG = (
    '[gateway]\nsite = "test-site"\nroom = "pairing"\nstate_dir = "{root}/state"\n'
    "[server]\nport = 0\n"
    '[[devices]]\nid = "thermo-1"\nuri = "ble://C0:FF:EE:00:00:03?profile=thermometer"\n'
    '[sim]\nenabled = true\ndir = "{root}/sim"\nscenario = "stable-copd"\n'
    '[[sim.devices]]\nid = "thermo-1"\nkind = "ble-thermometer"\naddress = "C0:FF:EE:00:00:03"\n'
    '[[sim.devices]]\nid = "ox-new"\nkind = "ble-pulse-oximeter"\naddress = "C0:FF:EE:00:00:11"\n'
    '[[sim.devices]]\nid = "scale-new"\nkind = "ble-weight-scale"\naddress = "C0:FF:EE:00:00:12"\n'
)
OX_URI = "ble://C0:FF:EE:00:00:11?profile=plx"


def _ids(gw: GatewayProcess) -> set[str]:
    with gw.client() as client:
        return {d["id"] for d in client.get("/api/v1/devices").json()}


def _spo2_from(gw: GatewayProcess, device_id: str, timeout_s: float) -> dict[str, Any]:
    url = gw.base_url.replace("http://", "ws://") + "/api/v1/live"
    with connect(url, additional_headers={"Authorization": f"Bearer {gw.token}"}) as ws:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=timeout_s))
            if msg.get("device_id") == device_id and msg.get("quantity") == "spo2":
                return dict(msg)
    raise AssertionError(f"no SpO2 from {device_id} within {timeout_s} s")


def test_scan_bind_restart_forget() -> None:
    gw = start_gateway(config_text=CONFIG)
    root = gw.root
    try:
        wait_for(lambda: gw.device("thermo-1")["connected"], 30.0)
        with gw.client() as client:
            client.timeout = httpx.Timeout(20.0)
            found = client.get("/api/v1/pairing/scan", params={"seconds": 2}).json()
            by_address = {d["address"]: d for d in found}
            ox = by_address["C0:FF:EE:00:00:11"]
            assert ox["kind"] == "plx" and ox["uri"] == OX_URI and ox["bound_as"] is None
            assert ox["suggested_id"] == "plx-000011"
            assert by_address["C0:FF:EE:00:00:12"]["kind"] == "weight"
            # a connected peripheral stops advertising, as real ones do
            assert "C0:FF:EE:00:00:03" not in by_address

            r = client.post("/api/v1/devices", json={"id": "ox-2", "uri": OX_URI, "label": "Ox"})
            assert r.status_code == 201, r.text
            assert r.json()["id"] == "ox-2" and r.json()["label"] == "Ox"
            # the same id or the same device twice, a bad URI, an IT device: clear refusals
            again = client.post("/api/v1/devices", json={"id": "ox-2", "uri": OX_URI})
            assert again.status_code == 409 and "already in use" in again.json()["detail"]
            twice = client.post("/api/v1/devices", json={"id": "ox-3", "uri": OX_URI})
            assert twice.status_code == 409 and "already bound" in twice.json()["detail"]
            bad = client.post(
                "/api/v1/devices",
                json={"id": "x-1", "uri": "ble://C0:FF:EE:00:00:12?profile=toaster"},
            )
            assert bad.status_code == 422 and "toaster" in bad.json()["detail"], bad.text
            it_owned = client.delete("/api/v1/devices/thermo-1")
            assert it_owned.status_code == 409 and "configured by IT" in it_owned.text
            assert client.delete("/api/v1/devices/nope").status_code == 404
        anonymous = httpx.post(f"{gw.base_url}/api/v1/devices", json={"id": "a", "uri": OX_URI})
        assert anonymous.status_code == 401

        assert _spo2_from(gw, "ox-2", 30.0)["value"] > 80
        gw.stop_cleanly()

        gw = start_gateway(root, config_text=CONFIG)  # the binding survives the restart
        assert "ox-2" in _ids(gw)
        wait_for(lambda: gw.device("ox-2")["connected"], 30.0)
        with gw.client() as client:
            assert client.delete("/api/v1/devices/ox-2").status_code == 204
        assert "ox-2" not in _ids(gw)
        gw.stop_cleanly()

        gw = start_gateway(root, config_text=CONFIG)  # forgotten stays forgotten
        assert _ids(gw) == {"thermo-1"}
        gw.stop_cleanly()
    finally:
        gw.stop()
        gw.remove()
