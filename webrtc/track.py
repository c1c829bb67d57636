"""A video track that hands aiortc pre-encoded packets from a gateway camera.

aiortc's sender packetizes an ``av.Packet`` without re-encoding (``Encoder.pack``), so the
encoder and its options are ours (``webrtc.encoder``). Costs of that choice: aiortc's
REMB-driven bitrate changes and its PLI→keyframe path do not reach our encoder, so keyframes
come every ``keyframe_interval_s`` and on the first frame instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from webrtc.camera import CameraSource, Subscription
from webrtc.encoder import VIDEO_TIME_BASE, Codec, H264Encoder, VideoEncoder

logger = logging.getLogger(__name__)


class CameraTrack(MediaStreamTrack):
    """One viewer's video of one camera; the codec is set once negotiation chose it."""

    kind = "video"

    def __init__(
        self,
        camera: CameraSource,
        *,
        bitrate_bps: int = 1_500_000,
        h264_encoder: H264Encoder = "libx264",
        keyframe_interval_s: float = 2.0,
    ) -> None:
        super().__init__()
        self.camera = camera
        self.codec: Codec = "h264"
        self._opts = (bitrate_bps, h264_encoder, keyframe_interval_s)
        self._encoder: VideoEncoder | None = None
        self._sub: Subscription | None = None
        self._t0: float | None = None
        self.frames_sent = 0
        self.last_capture_wall_s: float | None = None

    async def recv(self) -> av.Packet[Any]:
        """The next encoded frame as an ``av.Packet`` (pts on the 90 kHz RTP clock)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._sub is None:
            self._sub = self.camera.subscribe()
        sub = self._sub
        loop = asyncio.get_running_loop()
        while True:
            frame = await sub.next()
            if self._encoder is None:
                bitrate, encoder, keyint = self._opts
                height, width = frame.image.shape[:2]
                self._encoder = VideoEncoder(
                    self.codec,
                    width,
                    height,
                    self.camera.fps,
                    bitrate_bps=bitrate,
                    h264_encoder=encoder,
                    keyframe_interval_s=keyint,
                )
            if self._t0 is None:
                self._t0 = frame.monotonic_s
            pts = round((frame.monotonic_s - self._t0) * VIDEO_TIME_BASE.denominator)
            first = self._encoder.frames == 0
            data = await loop.run_in_executor(None, self._encoder.encode, frame.image, pts, first)
            if data:
                break
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = VIDEO_TIME_BASE
        self.frames_sent += 1
        self.last_capture_wall_s = frame.wall_s
        return packet

    def stop(self) -> None:
        """Stop the track and release the camera subscription."""
        super().stop()
        sub, self._sub = self._sub, None
        if sub is not None:
            sub.close()
