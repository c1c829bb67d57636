"""The supervisor: builds the gateway from settings and owns every task in one TaskGroup.

SIGTERM/SIGINT: the server stops accepting, device tasks are cancelled, the writer drains
what was queued to the store, the simulated room (if any) removes its ptys and sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Generator
from contextlib import AsyncExitStack
from pathlib import Path

import uvicorn

from drivers.devices import open_device
from gateway import retention, tls
from gateway.api import create_app, hello_message
from gateway.api_session import demo_session_link
from gateway.audit import AUDIT_FILE, AuditLog
from gateway.auth import KioskAuth, Principal
from gateway.bindings import BindingError, load_bindings, slot_for
from gateway.clinical.careplan import load_careplan
from gateway.health import GatewayContext, LoopMonitor
from gateway.ice import ice_servers_for
from gateway.live import LiveHub
from gateway.media import MediaHub
from gateway.mqtt import MqttLink
from gateway.outbox import OutboxPolicy
from gateway.pipeline import DeviceSlot, Pipeline
from gateway.sdnotify import Notifier, run_watchdog, watchdog_interval_s
from gateway.sessions import SessionManager
from gateway.settings import Settings
from gateway.signals.channels import default_factories, default_refiners
from gateway.signals.engine import SignalEngine
from gateway.simroom import start_sim_room
from gateway.store import Store

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 3


class _Shutdown(Exception):
    """Raised inside the TaskGroup to stop every task."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the supervisor owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def kiosk_url(host: str, port: int, auth: KioskAuth, scheme: str = "http") -> str:
    """The URL that logs the kiosk browser in."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/login?token={auth.token}"


async def serve(
    settings: Settings,
    on_ready: Callable[[str], None] | None = None,
    *,
    on_demo_link: Callable[[str], None] | None = None,
) -> None:
    """Run the gateway until SIGTERM/SIGINT (or until a critical task fails).

    With ``on_demo_link``, a live session is started and one specialist link handed to it.
    """
    state_dir = settings.gateway.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    auth = KioskAuth.load_or_create(state_dir)
    slots = [DeviceSlot(open_device(d.id, d.uri), d.label) for d in settings.devices]
    hub = LiveHub(settings.pipeline.live_queue_size)
    stop = asyncio.Event()
    notifier = Notifier.from_env()
    notifier.notify("STATUS=starting")
    tls_files = (
        tls.resolve(
            settings.server.tls_cert,
            settings.server.tls_key,
            state_dir,
            settings.server.host,
        )
        if settings.server.use_tls
        else None
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with AsyncExitStack() as stack:
            if settings.sim.enabled:
                await stack.enter_async_context(start_sim_room(settings.sim))
            mq = settings.mqtt
            policy = (
                OutboxPolicy(
                    settings.gateway.site,
                    settings.gateway.room,
                    mq.outbox_max_rows,
                    mq.outbox_alert_rows,
                )
                if mq.enabled
                else None
            )
            store = await stack.enter_async_context(Store(settings.store_path, policy))
            audit = AuditLog(state_dir / AUDIT_FILE)
            stack.callback(audit.close)
            for slot in slots:
                dev = slot.device
                await store.register_device(dev.device_id, dev.kind, str(dev.uri), time.time())
            sessions = SessionManager(store)
            resumed = await sessions.resume()
            if resumed is not None:
                logger.info("resuming session %s (%s)", resumed.id, resumed.state.value)
            configured = {slot.device.device_id for slot in slots}
            for b in await store.call(load_bindings):
                if b.id in configured:
                    logger.warning("bound device %s: the config now has that id; config wins", b.id)
                    continue
                try:
                    slots.append(slot_for(b.id, b.uri, b.label))
                except BindingError as exc:
                    logger.error("bound device %s not started: %s", b.id, exc)
            engine = SignalEngine(default_factories(), refiners=default_refiners())
            plan_path = settings.clinical.careplan
            careplan = load_careplan(plan_path) if plan_path is not None else None
            pipeline = Pipeline(settings.pipeline, store, hub, slots, engine, careplan=careplan)
            context = GatewayContext(settings, pipeline, hub, LoopMonitor())
            if mq.enabled:
                context.mqtt = MqttLink(
                    mq,
                    store,
                    settings.gateway.site,
                    settings.gateway.room,
                    health=context.health,
                    statuses=pipeline.statuses,
                    audit_head=audit.head,
                )
            # the gateway's own peer connections get TURN credentials of their own
            gateway_peer = Principal("gateway", participant_id="gateway")
            media = MediaHub(
                settings,
                hub,
                lambda: hello_message(context),
                ice=lambda: (
                    ice_servers_for(settings, gateway_peer),
                    settings.ice.transport_policy,
                ),
                store=store,
            )
            app = create_app(context, auth, sessions, audit)
            app.state.media = media
            sock = _bind(settings.server.host, settings.server.port)
            config = uvicorn.Config(
                app,
                ssl_certfile=tls_files.cert if tls_files else None,
                ssl_keyfile=tls_files.key if tls_files else None,
                log_config=None,
                lifespan="off",
                ws="websockets-sansio",
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
                access_log=False,
            )
            server = _Server(config)
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(pipeline.run_writer(), name="writer")
                    tg.create_task(pipeline.run_status(), name="status")
                    tg.create_task(context.loop_monitor.run(), name="loop-monitor")
                    tg.create_task(pipeline.run_devices(), name="devices")
                    tg.create_task(retention.run(store, settings.store), name="retention")
                    if context.mqtt is not None:
                        tg.create_task(context.mqtt.run(), name="mqtt")
                    tg.create_task(media.run(), name="media")
                    server_task = tg.create_task(server.serve(sockets=[sock]), name="http")
                    tg.create_task(_stop_when(stop, server, server_task, notifier), name="stopper")
                    # uvicorn has no "started" event to await
                    while not server.started and not server_task.done():  # noqa: ASYNC110
                        await asyncio.sleep(0.02)
                    if server.started:
                        port = sock.getsockname()[1]
                        scheme = "https" if tls_files else "http"
                        url = kiosk_url(settings.server.host, port, auth, scheme)
                        logger.info("listening on %s://%s:%d", scheme, settings.server.host, port)
                        if tls_files:
                            logger.info(
                                "TLS certificate: %s (%s)", tls_files.cert, tls_files.source
                            )
                        # READY only now: devices started, the server accepts connections
                        notifier.notify("READY=1", f"STATUS=listening on port {port}")
                        tg.create_task(
                            run_watchdog(notifier, context.health, watchdog_interval_s()),
                            name="watchdog",
                        )
                        runtime_dir = os.environ.get("RUNTIME_DIRECTORY")
                        if runtime_dir:  # systemd's RuntimeDirectory=: for the kiosk unit
                            local = kiosk_url(_local_host(settings.server.host), port, auth, scheme)
                            cert = tls_files.cert if tls_files else None
                            tls.write_kiosk_files(Path(runtime_dir), local, cert)
                        if on_ready is not None:
                            on_ready(url)
                        if on_demo_link is not None:
                            base = url.split("/login", 1)[0]
                            on_demo_link(await demo_session_link(sessions, base))
            except* _Shutdown:
                logger.info("stopped on request")
            finally:
                sock.close()
    finally:
        notifier.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _stop_when(
    stop: asyncio.Event, server: uvicorn.Server, task: asyncio.Task[None], notifier: Notifier
) -> None:
    """On a stop signal (or if the server ends by itself) stop the whole group."""
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not stop.is_set():
        logger.error("the HTTP server stopped by itself; stopping the gateway")
    logger.info("stopping: closing the server, draining the pipeline")
    notifier.notify("STOPPING=1", "STATUS=stopping")
    server.should_exit = True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_GRACE_S + 2)
    raise _Shutdown


def _local_host(host: str) -> str:
    """Where the kiosk on this machine reaches the server (wildcards mean loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno,
            f"cannot listen on {host}:{port}: {exc.strerror} "
            "(is another gateway running? set server.port or HELSEROM_SERVER__PORT)",
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock
