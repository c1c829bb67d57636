"""Video encoders for the gateway's cameras: H.264 (libx264 ultrafast + zerolatency, or the Pi's
h264_v4l2m2m) and VP8 (libvpx realtime) as the fallback.

Why not aiortc's own encoders: aiortc's ``H264Encoder`` hard-codes libx264's options (preset
"medium", tune zerolatency) and offers no hook; at 640x480@30 that costs several times the CPU
of preset ultrafast (``bench/bench_webrtc.py`` measures both). aiortc's sender also accepts
pre-encoded ``av.Packet``s from a track and only packetizes them (``Encoder.pack``), so the
track encodes (``webrtc.track``) with the options below: no monkey-patching of aiortc.
Frames are converted BGR→I420 with opencv (``cv2.COLOR_BGR2YUV_I420``) before encoding.
"""

from __future__ import annotations

import fractions
from typing import Literal

import av
import cv2
import numpy as np
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext
from numpy.typing import NDArray

from webrtc.errors import EncoderError

Codec = Literal["h264", "vp8"]
H264Encoder = Literal["libx264", "h264_v4l2m2m"]
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)  # RTP video clock (RFC 3551)


def bgr_to_i420(image: NDArray[np.uint8]) -> av.VideoFrame:
    """A BGR image as a yuv420p ``av.VideoFrame`` (opencv does the colour conversion)."""
    i420 = np.asarray(
        cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), np.uint8
    )  # (h * 3/2, w): Y, then U, then V
    return av.VideoFrame.from_ndarray(i420, format="yuv420p")


class VideoEncoder:
    """One encoder for one viewer's video: ``encode(bgr, pts, keyframe)`` → Annex B / VP8 bytes."""

    def __init__(
        self,
        codec: Codec,
        width: int,
        height: int,
        fps: float,
        *,
        bitrate_bps: int = 1_500_000,
        h264_encoder: H264Encoder = "libx264",
        keyframe_interval_s: float = 2.0,
        preset: str = "ultrafast",
    ) -> None:
        self.codec_name: Codec = codec
        name = h264_encoder if codec == "h264" else "libvpx"
        try:
            ctx = CodecContext.create(name, "w")
        except (av.FFmpegError, ValueError) as exc:
            raise EncoderError(
                f"encoder {name!r} is not available in this FFmpeg build ({exc}); "
                'use webrtc.h264_encoder = "libx264"'
            ) from exc
        assert isinstance(ctx, VideoCodecContext)
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.bit_rate = bitrate_bps
        ctx.framerate = fractions.Fraction(round(fps * 1000), 1000)
        ctx.time_base = VIDEO_TIME_BASE
        gop = max(1, round(keyframe_interval_s * fps))
        ctx.gop_size = gop
        if name == "libx264":
            # baseline-compatible (no B-frames, no CABAC) so every browser decodes it;
            # ultrafast + zerolatency: no lookahead, one packet per frame, ~5x less CPU.
            ctx.profile = "Baseline"
            ctx.options = {
                "preset": preset,
                "tune": "zerolatency",
                "level": "31",
            }  # without a global header x264 repeats SPS/PPS at every IDR: late joiners decode
        elif name == "h264_v4l2m2m":  # Raspberry Pi's hardware encoder (not verified here)
            ctx.options = {}
        else:  # libvpx VP8
            ctx.options = {"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0"}
        try:
            ctx.open()  # fail here, not on the first frame inside aiortc's sender
        except (av.FFmpegError, ValueError) as exc:
            raise EncoderError(
                f"cannot open encoder {name!r} at {width}x{height} ({exc}); for "
                'h264_v4l2m2m check /dev/video11 (Raspberry Pi) or use "libx264"'
            ) from exc
        self._ctx = ctx
        self.frames = 0
        self.last_keyframe = False

    def encode(self, image: NDArray[np.uint8], pts: int, keyframe: bool = False) -> bytes:
        """Encode one BGR frame (pts in 1/90000 s); returns the coded bytes (may be empty)."""
        frame = bgr_to_i420(image)
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        frame.pict_type = (
            av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        )
        try:
            packets = self._ctx.encode(frame)
        except av.FFmpegError as exc:
            raise EncoderError(f"{self._ctx.name} failed to encode a frame: {exc}") from exc
        self.frames += 1
        self.last_keyframe = any(p.is_keyframe for p in packets)
        return b"".join(bytes(p) for p in packets)
