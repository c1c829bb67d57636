"""The gateway's own media to viewers: cameras, one peer connection per viewer (WHEP), and the
``vitals`` and ``control`` data channels (docs/webrtc.md, docs/api.md).

``MediaHub.run()`` is a task of the runtime TaskGroup and owns one task per viewer; a viewer's
task pumps the LiveHub into ``vitals`` and answers ``control`` until the peer connection ends,
the viewer DELETEs its resource, the participant is removed, or the gateway stops.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from hwsim.camera import SyntheticCamera
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway import records
from gateway.auth import Principal
from gateway.live import LiveHub
from gateway.measure_requests import MeasureRequests, RequestError
from gateway.settings import CameraSettings, Settings
from gateway.store import Store
from webrtc import loopback
from webrtc.camera import CameraSource, encode_jpeg
from webrtc.encoder import VideoEncoder
from webrtc.errors import CameraError, ViewerLimit, WebRtcError
from webrtc.peer import Viewer, answer_offer
from webrtc.track import EncoderOptions, Feeds

logger = logging.getLogger(__name__)

VITALS_SCHEMA = 1
CONNECT_TIMEOUT_S = 30.0
VITALS_BATCH = 64
CHANNEL_BUFFER_MAX = 1 << 20  # bytes queued in SCTP before we drop vitals for a stuck viewer
IceProvider = Callable[[], tuple[list[dict[str, Any]], str]]


class _Ended(Exception):
    """A viewer's peer connection ended."""


class ControlRequest(BaseModel):
    """A message on the ``control`` channel (trust boundary: validated)."""

    model_config = ConfigDict(extra="allow")
    id: int
    type: Literal["snapshot", "measure", "camera"]
    camera_id: str | None = Field(default=None, max_length=64)
    device_id: str | None = Field(default=None, max_length=64)
    kind: str | None = Field(default=None, max_length=16)
    transceiver: int | None = Field(default=None, ge=0, le=16)


@dataclass
class Snapshot:
    """A full-resolution still: in the store (table ``snapshot``) when the hub has one, else
    kept in memory (the newest ``webrtc.snapshots_kept``)."""

    id: str
    camera_id: str
    jpeg: bytes
    width: int
    height: int
    captured_wall_s: float


@dataclass
class ViewerEntry:
    """A registered viewer: who made it and its peer connection."""

    resource_id: str
    principal: Principal
    viewer: Viewer
    vitals_sent: int = 0
    vitals_dropped: int = 0


def camera_source(c: CameraSettings) -> CameraSource:
    """The CameraSource for a configured camera (``sim:pattern`` is hwsim's synthetic camera)."""
    size = {"width": c.width, "height": c.height, "fps": c.fps, "label": c.label}
    if c.source == "sim:pattern":
        sim = SyntheticCamera(c.width, c.height, c.fps)

        def synthetic() -> NDArray[np.uint8]:
            return sim.frame()[0]

        return CameraSource(c.id, synthetic, **size)  # type: ignore[arg-type]
    return CameraSource(c.id, c.source, **size)  # type: ignore[arg-type]


def no_ice_servers() -> tuple[list[dict[str, Any]], str]:
    """Default ICE provider: no STUN/TURN (host candidates only); the lead wires gateway/ice.py."""
    return [], "all"


class MediaHub:
    """Cameras, viewers and snapshots of one gateway."""

    def __init__(
        self,
        settings: Settings,
        hub: LiveHub,
        hello: Callable[[], dict[str, Any]],
        ice: IceProvider = no_ice_servers,
        store: Store | None = None,
    ) -> None:
        if loopback.requested():
            loopback.enable_loopback_candidates()  # raises LoopbackRefused outside a test netns
        self.settings = settings.webrtc
        self.hub = hub
        self.store = store
        self.requests = MeasureRequests(settings.devices, hub)
        self.hello = hello
        self.ice = ice
        self.cameras = {c.id: camera_source(c) for c in settings.cameras}
        if self.cameras and self.settings.h264_encoder != "libx264":
            # refuse at start-up, not when the first viewer's sender dies
            VideoEncoder("h264", 640, 480, 30, h264_encoder=self.settings.h264_encoder)
        self.feeds = Feeds(
            EncoderOptions(
                bitrate_bps=self.settings.bitrate_kbps * 1000,
                h264_encoder=self.settings.h264_encoder,
                keyframe_interval_s=self.settings.keyframe_interval_s,
            )
        )
        self.viewers: dict[str, ViewerEntry] = {}
        self.snapshots: collections.OrderedDict[str, Snapshot] = collections.OrderedDict()
        self._tg: asyncio.TaskGroup | None = None
        self.running = asyncio.Event()
        self._pending: set[str] = set()

    def camera_list(self) -> list[dict[str, Any]]:
        """GET /api/v1/cameras: id, label, width, height, fps (in transceiver order)."""
        return [
            {"id": c.id, "label": c.label, "width": c.width, "height": c.height, "fps": c.fps}
            for c in self.cameras.values()
        ]

    async def run(self) -> None:
        """Own the viewer tasks; at exit close every peer connection and camera."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self.running.set()
                await asyncio.Event().wait()  # until the runtime cancels us
        finally:
            self._tg = None
            self.running.clear()
            entries = list(self.viewers.values())
            self.viewers.clear()
            for entry in entries:
                with contextlib.suppress(Exception):
                    await asyncio.shield(entry.viewer.close())
            for cam in self.cameras.values():
                cam.close()

    async def join(self, offer_sdp: str, principal: Principal) -> tuple[str, str]:
        """Answer a WHEP offer: (resource id, SDP answer). Raises ViewerLimit, WebRtcError."""
        if self._tg is None:
            raise ViewerLimit("the media service is not running")
        if len(self.viewers) + len(self._pending) >= self.settings.max_viewers:
            raise ViewerLimit(f"{self.settings.max_viewers} viewers already (webrtc.max_viewers)")
        resource_id = secrets.token_urlsafe(16)
        self._pending.add(resource_id)
        try:
            servers, policy = self.ice()
            viewer = await answer_offer(
                offer_sdp,
                list(self.cameras.values()),
                servers,
                ice_transport_policy=policy,
                codecs=self.settings.codecs,
                feeds=self.feeds,
            )
        finally:
            self._pending.discard(resource_id)
        entry = ViewerEntry(resource_id, principal, viewer)
        self.viewers[resource_id] = entry
        if self._tg is None:
            await self._close(resource_id)
            raise ViewerLimit("the media service is stopping")
        self._tg.create_task(self._serve(entry), name=f"viewer-{resource_id[:6]}")
        logger.info(
            "viewer %s joined (%s, codecs %s)", resource_id[:6], principal.role, viewer.codecs()
        )
        return resource_id, viewer.answer_sdp

    def owner(self, resource_id: str) -> Principal | None:
        """Who created a WHEP resource (None: no such resource)."""
        entry = self.viewers.get(resource_id)
        return None if entry is None else entry.principal

    async def leave(self, resource_id: str) -> None:
        """Close a viewer (DELETE of its WHEP resource)."""
        await self._close(resource_id)

    async def remove_participant(self, participant_id: str) -> int:
        """Close every viewer of a removed participant; returns how many."""
        ids = [r for r, e in self.viewers.items() if e.principal.participant_id == participant_id]
        for rid in ids:
            await self._close(rid)
        return len(ids)

    async def _close(self, resource_id: str) -> None:
        entry = self.viewers.pop(resource_id, None)
        if entry is not None:
            await entry.viewer.close()
            logger.info("viewer %s left", resource_id[:6])

    async def _serve(self, entry: ViewerEntry) -> None:
        """A viewer's life: vitals and control until its connection ends. Never raises."""
        viewer = entry.viewer
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._vitals(entry))
                tg.create_task(self._control(entry))
                try:
                    await asyncio.wait_for(viewer.channel_open["vitals"].wait(), CONNECT_TIMEOUT_S)
                except TimeoutError:
                    logger.warning("viewer %s never connected", entry.resource_id[:6])
                    raise _Ended from None
                await viewer.ended.wait()
                raise _Ended
        except* _Ended:
            pass
        except* Exception as group:
            logger.warning("viewer %s failed: %r", entry.resource_id[:6], group.exceptions)
        finally:
            await asyncio.shield(self._close(entry.resource_id))

    async def _vitals(self, entry: ViewerEntry) -> None:
        viewer = entry.viewer
        await viewer.channel_open["vitals"].wait()
        channel = viewer.channels["vitals"]
        with self.hub.subscribe() as queue:
            self._send(entry, {**self.hello(), "cameras": self.camera_list()})
            while channel.readyState in ("connecting", "open"):
                for msg in await queue.get_batch(VITALS_BATCH):
                    self._send(entry, msg)

    def _send(self, entry: ViewerEntry, msg: dict[str, Any]) -> None:
        channel = entry.viewer.channels["vitals"]
        if channel.readyState != "open" or channel.bufferedAmount > CHANNEL_BUFFER_MAX:
            entry.vitals_dropped += 1
            return
        out = {**msg, "schema": VITALS_SCHEMA, "sent_at_ms": round(time.time() * 1000.0, 3)}
        channel.send(json.dumps(out, separators=(",", ":"), allow_nan=False))
        entry.vitals_sent += 1

    async def _control(self, entry: ViewerEntry) -> None:
        viewer = entry.viewer
        while True:
            text = await viewer.control_inbox.get()
            reply = await self._handle_control(entry, text)
            channel = viewer.channels.get("control")
            if channel is not None and channel.readyState == "open":
                channel.send(json.dumps(reply, separators=(",", ":")))

    async def _handle_control(self, entry: ViewerEntry, text: str) -> dict[str, Any]:
        try:
            req = ControlRequest.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "message"
            return {
                "type": "ack",
                "id": _id_of(text),
                "ok": False,
                "error": f"{where}: {first['msg']}",
            }
        ack: dict[str, Any] = {"type": "ack", "id": req.id, "request": req.type}
        try:
            if req.type == "snapshot":
                return {**ack, "ok": True, **await self._snapshot(req.camera_id, entry.principal)}
            if req.type == "measure":
                return {**ack, "ok": True, **await self._forward(req, entry.principal)}
            return {**ack, "ok": True, **self._switch(entry, req.transceiver, req.camera_id)}
        except (WebRtcError, LookupError, ValueError, RequestError) as exc:
            return {**ack, "ok": False, "error": str(exc)}

    async def _snapshot(self, camera_id: str | None, who: Principal) -> dict[str, Any]:
        cam = self._camera(camera_id)
        frame = await cam.snapshot()
        jpeg = await asyncio.to_thread(encode_jpeg, frame.image)
        height, width = frame.image.shape[:2]
        snap = Snapshot(secrets.token_urlsafe(12), cam.id, jpeg, width, height, frame.wall_s)
        if self.store is not None:  # stamped with the live session and who asked
            row = records.SnapshotRow(
                snap.id, self.store.session_id, cam.id, width, height, frame.wall_s, "", "", None
            )
            await self.store.call(records.insert_snapshot, row, who, jpeg)
        else:
            self.snapshots[snap.id] = snap
            while len(self.snapshots) > self.settings.snapshots_kept:
                self.snapshots.popitem(last=False)
        return {
            "snapshot_id": snap.id,
            "url": f"/api/v1/snapshots/{snap.id}",
            "camera_id": cam.id,
            "width": width,
            "height": height,
            "media_type": "image/jpeg",
            "captured_at_ms": round(frame.wall_s * 1000.0, 3),
        }

    async def _forward(self, req: ControlRequest, who: Principal) -> dict[str, Any]:
        # No driver can start a measurement over its link (docs/webrtc.md lists why): the
        # nurse is asked on the kiosk instead.
        self.requests.resolve(req.kind, req.device_id)  # refuse before the name lookup
        name = None
        if self.store is not None:
            name = await self.store.call(records.participant_name, who)
        forwarded = self.requests.forward(req.kind, req.device_id, who.role, name)
        return {
            "forwarded": "nurse",
            "request_id": forwarded.request_id,
            "kind": forwarded.kind,
            "device_id": forwarded.device_id,
        }

    def _switch(
        self, entry: ViewerEntry, index: int | None, camera_id: str | None
    ) -> dict[str, Any]:
        cam = self._camera(camera_id)
        i = 0 if index is None else index
        videos = entry.viewer.tracks
        if not 0 <= i < len(videos):
            raise LookupError(f"no video transceiver {i} (this viewer has {len(videos)})")
        # the track changes feeds itself: aiortc's replaceTrack would leave the sender waiting
        # on the old track's pending recv()
        entry.viewer.tracks[i].switch(cam)
        return {"transceiver": i, "camera_id": cam.id}

    def _camera(self, camera_id: str | None) -> CameraSource:
        if not self.cameras:
            raise CameraError("this room has no cameras configured ([[cameras]])")
        if camera_id is None:
            return next(iter(self.cameras.values()))
        try:
            return self.cameras[camera_id]
        except KeyError:
            raise LookupError(
                f"unknown camera {camera_id!r} (known: {', '.join(self.cameras)})"
            ) from None


def _id_of(text: str) -> int | None:
    with contextlib.suppress(ValueError, AttributeError):
        value = json.loads(text).get("id")
        return value if isinstance(value, int) else None
    return None
