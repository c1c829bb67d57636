"""Answer a viewer's WHEP offer: one send-only video per gateway camera, two data channels.

No trickle ICE (aiortc has none): ``setLocalDescription`` returns once gathering is complete,
so the answer holds every candidate. The configuration is always explicit: without one aiortc
adds Google's public STUN server and waits on it. Codec preferences are set on pre-made
transceivers *before* ``setRemoteDescription``, which is where aiortc negotiates codecs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import SessionDescription

from webrtc.camera import CameraSource
from webrtc.encoder import Codec
from webrtc.errors import NegotiationError
from webrtc.track import CameraTrack, Feeds

logger = logging.getLogger(__name__)

DATA_CHANNELS = ("vitals", "control")
CONTROL_INBOX = 32
MIME = {"h264": "video/H264", "vp8": "video/VP8"}


def rtc_configuration(
    ice_servers: Sequence[dict[str, Any]], policy: str = "all"
) -> RTCConfiguration:
    """An explicit RTCConfiguration from ``{"urls", "username", "credential"}`` dicts."""
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in ice_servers
    ]
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy(policy))


@dataclass
class Viewer:
    """One viewer's peer connection, its camera tracks and its data channels."""

    pc: RTCPeerConnection
    tracks: list[CameraTrack]
    answer_sdp: str = ""
    channels: dict[str, RTCDataChannel] = field(default_factory=dict)
    channel_open: dict[str, asyncio.Event] = field(
        default_factory=lambda: {name: asyncio.Event() for name in DATA_CHANNELS}
    )
    control_inbox: asyncio.Queue[str] = field(
        default_factory=lambda: asyncio.Queue(maxsize=CONTROL_INBOX)
    )
    control_dropped: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def codecs(self) -> list[str]:
        """The negotiated codec of each camera track."""
        return [t.codec for t in self.tracks]

    async def close(self) -> None:
        """Close the peer connection and release the cameras."""
        for track in self.tracks:
            track.stop()
        await self.pc.close()
        self.ended.set()


def _count_videos(offer_sdp: str) -> int:
    try:
        parsed = SessionDescription.parse(offer_sdp)
    except (ValueError, IndexError, KeyError) as exc:
        raise NegotiationError(f"the body is not a usable SDP offer ({exc})") from None
    return sum(1 for m in parsed.media if m.kind == "video")


async def answer_offer(
    offer_sdp: str,
    cameras: Sequence[CameraSource],
    ice_servers: Sequence[dict[str, Any]] = (),
    *,
    ice_transport_policy: str = "all",
    codecs: Sequence[Codec] = ("h264", "vp8"),
    feeds: Feeds | None = None,
) -> Viewer:
    """Answer a WHEP offer with every candidate gathered (the caller closes the Viewer)."""
    videos = _count_videos(offer_sdp)
    if videos != len(cameras):
        raise NegotiationError(
            f"the offer has {videos} video transceivers; expected one per camera "
            f"({len(cameras)}, in the order of GET /api/v1/cameras)"
        )
    pc = RTCPeerConnection(rtc_configuration(ice_servers, ice_transport_policy))
    shared = feeds if feeds is not None else Feeds()
    tracks = [CameraTrack(cam, shared) for cam in cameras]
    viewer = Viewer(pc, tracks)
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    preferred = [c for name in codecs for c in capabilities if c.mimeType == MIME[name]]
    try:
        for track in tracks:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(preferred)
        _watch(viewer)
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except NegotiationError:
        await viewer.close()
        raise
    except (ValueError, TypeError, KeyError, AssertionError) as exc:
        await viewer.close()
        raise NegotiationError(f"cannot answer this offer: {exc}") from exc
    except Exception as exc:  # aiortc raises its own InvalidStateError/OperationError
        await viewer.close()
        raise NegotiationError(f"cannot answer this offer: {type(exc).__name__}: {exc}") from exc
    viewer.answer_sdp = pc.localDescription.sdp
    answered = [m for m in SessionDescription.parse(viewer.answer_sdp).media if m.kind == "video"]
    for track, media in zip(tracks, answered, strict=True):
        mime = media.rtp.codecs[0].mimeType.lower() if media.rtp.codecs else "video/h264"
        track.codec = "vp8" if mime == "video/vp8" else "h264"
    return viewer


def _watch(viewer: Viewer) -> None:
    """Route the peer connection's callbacks into the Viewer (events and a bounded inbox)."""
    pc = viewer.pc

    @pc.on("datachannel")
    def on_datachannel(channel: RTCDataChannel) -> None:
        if channel.label not in DATA_CHANNELS:
            logger.info("ignoring data channel %r", channel.label)
            return
        viewer.channels[channel.label] = channel
        viewer.channel_open[channel.label].set()
        if channel.label == "control":

            @channel.on("message")
            def on_message(message: str | bytes) -> None:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                try:
                    viewer.control_inbox.put_nowait(text)
                except asyncio.QueueFull:
                    viewer.control_dropped += 1

    @pc.on("connectionstatechange")
    def on_state() -> None:
        logger.info("viewer peer connection %s", pc.connectionState)
        if pc.connectionState in ("failed", "closed"):
            viewer.ended.set()
