"""Store write rate and MQTT outbox drain rate, each beside a peer run in the same process.

Store: measurements written with their outbox rows (as the gateway does with MQTT on), in
batches of 1 and 64, with synchronous=FULL (the gateway) and synchronous=NORMAL (the peer).
Drain: the outbox to a real mosquitto (TLS client certificate, QoS 1, persistence on) beside
a plain paho QoS 1 publish loop with the same in-flight window and payload size.

    .venv/bin/python bench/bench_store.py [--writes 2000] [--drain 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.mosquitto: the broker fixture the tests use

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: E402

from drivers.model import Measurement, Quantity, ReceiveTime  # noqa: E402
from gateway.mqtt import MqttLink  # noqa: E402
from gateway.outbox import OutboxPolicy  # noqa: E402
from gateway.settings import MqttSettings  # noqa: E402
from gateway.store import Store  # noqa: E402
from tests.mosquitto import Broker, Pki  # noqa: E402

SITE, ROOM = "bench-site", "bench-room"
INFLIGHT = 64


@dataclass
class Summary:
    """Rates measured (for the smoke test)."""

    write: dict[str, tuple[float, float]] = field(default_factory=dict)  # meas/s, batches/s
    drain: dict[str, float] = field(default_factory=dict)  # msgs/s


def _measurements(n: int, start: int = 0) -> list[Measurement]:
    now = time.time()
    return [
        Measurement(Quantity.SPO2, 97.0, "%", f"ox-{i % 4}", ReceiveTime(now, float(i)))
        for i in range(start, start + n)
    ]


async def _write_rate(path: Path, synchronous: str, batch: int, n: int) -> tuple[float, float]:
    async with Store(path, OutboxPolicy(SITE, ROOM, max_rows=10_000_000)) as store:
        await store.call(lambda db: db.execute(f"PRAGMA synchronous={synchronous}"))
        batches = [_measurements(batch, i) for i in range(0, n, batch)]
        start = time.perf_counter()
        for b in batches:
            await store.write(b)
        elapsed = time.perf_counter() - start
    return len(batches) * batch / elapsed, len(batches) / elapsed


async def _drain_rate(root: Path, broker: Broker, pki: Pki, n: int) -> tuple[float, int]:
    cert, key = pki.issue(f"helserom-{SITE}-{ROOM}")
    settings = MqttSettings(
        enabled=True,
        port=broker.port,
        ca_file=pki.ca_file,
        cert_file=cert,
        key_file=key,
        inflight=INFLIGHT,
    )
    async with Store(root / "drain.sqlite3", OutboxPolicy(SITE, ROOM, max_rows=n)) as store:
        for i in range(0, n, 64):
            await store.write(_measurements(min(64, n - i), i))
        size = len(
            (
                await store.call(
                    lambda db: db.execute("SELECT payload FROM outbox LIMIT 1").fetchone()
                )
            )[0]
        )
        link = MqttLink(settings, store, SITE, ROOM)
        task = asyncio.create_task(link._deliver_forever())
        while not link.stats.connected:  # noqa: ASYNC110 (polling is the measurement)
            await asyncio.sleep(0.005)
        start = time.perf_counter()
        while store.outbox_state.depth:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return n / elapsed, size


def _paho_rate(broker: Broker, pki: Pki, n: int, size: int) -> float:
    cert, key = pki.issue("bench-plain")
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-plain", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.tls_set(str(pki.ca_file), str(cert), str(key))
    client.max_inflight_messages_set(INFLIGHT)
    done = threading.Event()
    acked = 0

    def on_publish(*_: object) -> None:
        nonlocal acked
        acked += 1
        if acked == n:
            done.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", broker.port, 30)
    client.loop_start()
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(n):
        client.publish(f"helserom/{SITE}/{ROOM}/measurement/plain", payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return n / elapsed


async def amain(writes: int, drain: int) -> Summary:
    summary = Summary()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for batch in (1, 64):
            for sync in ("FULL", "NORMAL"):
                n = writes if batch == 64 else max(1, writes // 8)
                name = f"synchronous={sync}, batch {batch}"
                path = root / f"w-{sync}-{batch}.sqlite3"
                summary.write[name] = await _write_rate(path, sync, batch, n)
        pki = Pki(root / "pki")
        broker = Broker(root / "broker", pki)
        broker.start()
        try:
            rate, size = await _drain_rate(root, broker, pki, drain)
            summary.drain["outbox drain (gateway MqttLink)"] = rate
            summary.drain["plain paho QoS1 publish loop"] = await asyncio.to_thread(
                _paho_rate, broker, pki, drain, size
            )
        finally:
            broker.stop()
    print(f"store write rate, measurement + outbox row per event ({writes} events at batch 64)")
    for name, (mps, bps) in summary.write.items():
        print(f"  {name:32s} {mps:9.0f} measurements/s {bps:9.1f} batches/s")
    print(f"outbox drain to mosquitto, TLS, QoS 1, in-flight {INFLIGHT} ({drain} messages)")
    base = summary.drain["plain paho QoS1 publish loop"]
    for name, rate in summary.drain.items():
        print(f"  {name:32s} {rate:9.0f} msgs/s  ratio vs plain {rate / base:5.2f}")
    return summary


def main(argv: list[str] | None = None) -> Summary:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--drain", type=int, default=5000)
    args = parser.parse_args(argv)
    return asyncio.run(amain(args.writes, args.drain))


if __name__ == "__main__":
    main()
