"""A real mosquitto on a random loopback port, TLS with client certificates, for MQTT tests.

``Pki`` makes a CA, a server certificate for 127.0.0.1 and client certificates (the CN is
the client's identity: ``use_identity_as_username``). ``Broker`` writes the config file
(persistence with autosave on every change), starts, stops, SIGKILLs and restarts the
broker on the same port and persistence file. ``Consumer`` is a paho subscriber with a
persistent session that dedupes by the ``msg-id`` user property and counts duplicates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Pki:
    """A throwaway CA and the certificates a test needs, as PEM files in ``root``."""

    root: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self._ca = (
            x509.CertificateBuilder()
            .subject_name(_name("helserom test CA"))
            .issuer_name(_name("helserom test CA"))
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca_file = self.root / "ca.pem"
        self.ca_file.write_bytes(self._ca.public_bytes(serialization.Encoding.PEM))
        self.server_cert, self.server_key = self.issue("server", server=True)

    def issue(self, cn: str, *, server: bool = False) -> tuple[Path, Path]:
        """A certificate and key signed by the CA, with ``cn`` as its identity."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self._ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        cert = builder.sign(self._ca_key, hashes.SHA256())
        cert_file, key_file = self.root / f"{cn}.crt", self.root / f"{cn}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """mosquitto with TLS client certificates and autosaved persistence."""

    root: Path
    pki: Pki
    port: int = field(default_factory=free_port)
    # Saves after this many changes. 1 (every change) is what the SIGKILL test needs; each
    # save rewrites the whole file, so a 10,000-message backlog uses a larger value.
    autosave_interval: int = 1
    acl: str | None = None  # mosquitto acl_file text; None: every client may do anything
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.root / "mosquitto.conf"

    def write_config(self) -> None:
        (self.root / "persist").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            f"""\
per_listener_settings false
{"user root" if os.geteuid() == 0 else ""}
persistence true
persistence_location {self.root}/persist/
autosave_on_changes true
autosave_interval {self.autosave_interval}
max_queued_messages 0
max_inflight_messages 0
log_dest file {self.root}/mosquitto.log
log_type error
log_type warning
log_type notice
listener {self.port} 127.0.0.1
cafile {self.pki.ca_file}
certfile {self.pki.server_cert}
keyfile {self.pki.server_key}
require_certificate true
use_identity_as_username true
allow_anonymous false
{f"acl_file {self.root}/acl" if self.acl is not None else ""}
""",
            encoding="utf-8",
        )
        if self.acl is not None:
            (self.root / "acl").write_text(self.acl, encoding="utf-8")

    def start(self) -> None:
        """Start (or restart on the same port and persistence) and wait until it listens."""
        self.write_config()
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "mosquitto.stderr").open("ab"),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mosquitto exited {self.process.returncode}: {self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise AssertionError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop it (SIGTERM saves persistence; SIGKILL does not)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None

    def log(self) -> str:
        return "".join(
            p.read_text(errors="replace")
            for p in (self.root / "mosquitto.stderr", self.root / "mosquitto.log")
            if p.exists()
        )


class Consumer:
    """A persistent-session subscriber that dedupes by msg-id (a hospital's receiver)."""

    def __init__(self, broker: Broker, client_id: str, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        cert, key = broker.pki.issue(client_id)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        ctx = ssl.create_default_context(cafile=str(broker.pki.ca_file))
        ctx.load_cert_chain(str(cert), str(key))
        self.client.tls_set_context(ctx)
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.messages: list[tuple[str, dict[str, Any]]] = []  # first copy of each, in order
        self.received = 0
        self.duplicates = 0
        self.without_id = 0
        self.session_present: list[bool] = []
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self.session_present.append(bool(flags.session_present))
        client.subscribe(self.topic, qos=1)

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        with self.lock:
            self.received += 1
            msg_id = props.get("msg-id")
            if msg_id is None:
                self.without_id += 1
            elif msg_id in self.seen:
                self.duplicates += 1
            else:
                self.seen.add(msg_id)
                self.messages.append((msg.topic, json.loads(msg.payload)))

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", self.broker.port, 30, clean_start=False, properties=props)
        self.client.loop_start()

    def wait_connected(self, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.client.is_connected():
            assert time.monotonic() < deadline, "consumer did not connect"
            time.sleep(0.02)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()

    def unique(self, kind: str = "measurement/") -> list[dict[str, Any]]:
        with self.lock:
            return [p for t, p in self.messages if f"/{kind}" in t]
