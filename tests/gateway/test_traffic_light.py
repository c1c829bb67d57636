"""Traffic lights from the patient's care plan on the live stream, never for an invalid value."""

from __future__ import annotations

from pathlib import Path

from drivers.model import Measurement, QualityFlag, Quantity, ReceiveTime
from gateway.clinical.careplan import load_careplan
from gateway.live import LiveHub
from gateway.pipeline import Pipeline, _Tagged
from gateway.settings import Settings
from gateway.signals.channels import default_factories, default_refiners
from gateway.signals.engine import SignalEngine
from gateway.store import Store

PLAN = Path(__file__).parents[2] / "config" / "careplans" / "example.toml"


def _m(q: Quantity, value: float, flags: QualityFlag = QualityFlag.NONE) -> Measurement:
    return Measurement(q, value, q.spec.ucum, "ox-1", ReceiveTime(1000.0, 5.0), quality=flags)


async def test_lights_follow_the_plan_and_skip_invalid_values(tmp_path: Path) -> None:
    settings = Settings(gateway={"state_dir": tmp_path})
    hub = LiveHub(64)
    engine = SignalEngine(default_factories(), refiners=default_refiners())
    async with Store(tmp_path / "gw.sqlite3") as store:
        pipeline = Pipeline(settings.pipeline, store, hub, [], engine, careplan=load_careplan(PLAN))
        with hub.subscribe() as queue:
            batch = [
                _m(Quantity.SPO2, 86.0),  # red in the example plan (< 88)
                _m(Quantity.SPO2, 95.0),  # green
                _m(Quantity.SPO2, 95.0, QualityFlag.SENSOR_DISCONNECTED),  # invalid: no colour
                _m(Quantity.SPO2, float("nan")),  # not computable: no colour
            ]
            await pipeline._write_and_publish([_Tagged("ox-1", m) for m in batch])
            got = [msg for msg in queue.drain_nowait() if msg["type"] == "measurement"]
    lights = [m["traffic_light"] for m in got]
    assert lights[0]["colour"] == "red" and "88" in lights[0]["label_nb"]
    assert lights[1]["colour"] == "green" and not lights[1]["questionable"]
    assert got[2]["verdict"] == "invalid" and lights[2] is None
    assert lights[3] is None


async def test_no_plan_no_lights(tmp_path: Path) -> None:
    settings = Settings(gateway={"state_dir": tmp_path})
    hub = LiveHub(8)
    async with Store(tmp_path / "gw.sqlite3") as store:
        pipeline = Pipeline(settings.pipeline, store, hub, [], SignalEngine({}))
        with hub.subscribe() as queue:
            await pipeline._write_and_publish([_Tagged("ox-1", _m(Quantity.SPO2, 86.0))])
            (msg,) = queue.drain_nowait()
    assert msg["traffic_light"] is None
