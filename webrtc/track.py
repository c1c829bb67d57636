"""Video tracks that hand aiortc pre-encoded packets from a gateway camera.

aiortc's sender packetizes an ``av.Packet`` without re-encoding (``Encoder.pack``), so the
encoder and its options are ours (``webrtc.encoder``). One ``EncodedFeed`` per camera and codec
encodes each frame once for every viewer: a viewer's track takes the newest packet; a new
viewer, or one that missed a packet, asks the feed for a keyframe and waits for it (it would
otherwise decode garbage). Costs of bypassing aiortc's encoder: its REMB bitrate estimates and
PLI requests do not reach the encoder, so bitrate is fixed and keyframes also come every
``keyframe_interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from webrtc.camera import CameraSource, Subscription
from webrtc.encoder import VIDEO_TIME_BASE, Codec, H264Encoder, VideoEncoder
from webrtc.errors import SubscriptionClosed

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded frame of a feed; ``seq`` counts up by one per frame."""

    seq: int
    data: bytes
    pts: int
    keyframe: bool
    capture_wall_s: float


@dataclass(frozen=True, slots=True)
class EncoderOptions:
    """How feeds encode."""

    bitrate_bps: int = 1_500_000
    h264_encoder: H264Encoder = "libx264"
    keyframe_interval_s: float = 2.0


class EncodedFeed:
    """One camera encoded once in one codec, pulled by every viewer's track."""

    def __init__(self, camera: CameraSource, codec: Codec, options: EncoderOptions) -> None:
        self.camera, self.codec, self.options = camera, codec, options
        self.latest: EncodedFrame | None = None
        self.users = 0
        self.frames_encoded = 0
        self._sub: Subscription | None = None
        self._encoder: VideoEncoder | None = None
        self._lock = asyncio.Lock()
        self._want_key = True
        self._t0: float | None = None

    def acquire(self) -> None:
        """A track starts using the feed."""
        self.users += 1

    def release(self) -> None:
        """A track stops; the last one stops the camera and drops the encoder."""
        self.users -= 1
        if self.users == 0:
            sub, self._sub = self._sub, None
            if sub is not None:
                sub.close()
            self._encoder, self.latest, self._t0, self._want_key = None, None, None, True

    def request_keyframe(self) -> None:
        """Make the next encoded frame a keyframe."""
        self._want_key = True

    async def next(self, after_seq: int) -> EncodedFrame:
        """The newest encoded frame with ``seq > after_seq`` (encodes one if there is none)."""
        while True:
            latest = self.latest
            if latest is not None and latest.seq > after_seq:
                return latest
            async with self._lock:
                latest = self.latest
                if latest is None or latest.seq <= after_seq:
                    await self._encode_next()

    async def _encode_next(self) -> None:
        if self._sub is None:
            self._sub = self.camera.subscribe()
        frame = await self._sub.next()
        if self._encoder is None:
            height, width = frame.image.shape[:2]
            o = self.options
            self._encoder = VideoEncoder(
                self.codec,
                width,
                height,
                self.camera.fps,
                bitrate_bps=o.bitrate_bps,
                h264_encoder=o.h264_encoder,
                keyframe_interval_s=o.keyframe_interval_s,
            )
        if self._t0 is None:
            self._t0 = frame.monotonic_s
        pts = round((frame.monotonic_s - self._t0) * VIDEO_TIME_BASE.denominator)
        key, self._want_key = self._want_key, False
        encoder = self._encoder
        data = await asyncio.get_running_loop().run_in_executor(
            None, encoder.encode, frame.image, pts, key
        )
        if not data:
            return
        self.frames_encoded += 1
        seq = 1 if self.latest is None else self.latest.seq + 1
        self.latest = EncodedFrame(seq, data, pts, encoder.last_keyframe, frame.wall_s)


class Feeds:
    """The encoded feeds of a gateway, by camera and codec (shared by all viewers)."""

    def __init__(self, options: EncoderOptions | None = None) -> None:
        self.options = options or EncoderOptions()
        self._feeds: dict[tuple[str, Codec], EncodedFeed] = {}

    def get(self, camera: CameraSource, codec: Codec) -> EncodedFeed:
        """The feed of ``camera`` in ``codec`` (made on first use)."""
        key = (camera.id, codec)
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = EncodedFeed(camera, codec, self.options)
        return feed


class CameraTrack(MediaStreamTrack):
    """One viewer's video of one camera; the codec is set once negotiation chose it."""

    kind = "video"

    def __init__(self, camera: CameraSource, feeds: Feeds) -> None:
        super().__init__()
        self.camera = camera
        self.codec: Codec = "h264"
        self._feeds = feeds
        self._feed: EncodedFeed | None = None
        self._seq = 0
        self._need_key = True
        self.frames_sent = 0
        self.frames_skipped = 0
        self.last_capture_wall_s: float | None = None

    async def recv(self) -> av.Packet[Any]:
        """The next encoded frame as an ``av.Packet`` (pts on the 90 kHz RTP clock)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._feed is None:
            self._feed = self._feeds.get(self.camera, self.codec)
            self._feed.acquire()
        while True:
            feed = self._feed
            if feed is None:
                raise MediaStreamError
            try:
                frame = await feed.next(self._seq)
            except SubscriptionClosed:
                if self.readyState != "live":
                    raise MediaStreamError from None  # stopped: aiortc's sender ends
                continue  # switched to another camera while waiting
            if feed is not self._feed:
                continue
            if self._seq and frame.seq != self._seq + 1:
                self.frames_skipped += frame.seq - self._seq - 1
                self._need_key = True  # a missed frame breaks the reference chain
            self._seq = frame.seq
            if self._need_key and not frame.keyframe:
                feed.request_keyframe()
                continue
            self._need_key = False
            break
        packet = av.Packet(frame.data)
        packet.pts = frame.pts
        packet.time_base = VIDEO_TIME_BASE
        self.frames_sent += 1
        self.last_capture_wall_s = frame.capture_wall_s
        return packet

    def switch(self, camera: CameraSource) -> None:
        """Show another camera on this track (same codec); the viewer resumes on a keyframe."""
        new = self._feeds.get(camera, self.codec)
        new.acquire()
        old, self._feed = self._feed, new
        self.camera, self._seq, self._need_key = camera, 0, True
        if old is not None:
            old.release()

    def stop(self) -> None:
        """Stop the track and leave its feed."""
        super().stop()
        feed, self._feed = self._feed, None
        if feed is not None:
            feed.release()
