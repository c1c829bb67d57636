"""Errors of the WebRTC package; aiortc/av/opencv errors are translated at the edge.

WebRtcError
├── CameraError        a camera that cannot be opened or read (device path, index, size)
│   └── SubscriptionClosed   a frame awaited on a subscription that was closed meanwhile
├── EncoderError       an encoder that cannot be opened (h264_v4l2m2m missing on this machine …)
├── NegotiationError   an SDP offer we cannot answer (not an offer, wrong number of videos …)
├── ViewerLimit        no room for another viewer (or the media service is not running)
└── LoopbackRefused    the test-only loopback switch asked for outside a loopback-only netns
"""

from __future__ import annotations


class WebRtcError(Exception):
    """Root of every error raised by the webrtc package."""


class CameraError(WebRtcError):
    """A camera that cannot be opened or read."""


class SubscriptionClosed(CameraError):
    """The subscription was closed while a frame was awaited."""


class EncoderError(WebRtcError):
    """A video encoder that cannot be opened."""


class NegotiationError(WebRtcError, ValueError):
    """An SDP offer that cannot be answered."""


class LoopbackRefused(WebRtcError):
    """Loopback ICE candidates were asked for where they are not allowed."""


class ViewerLimit(WebRtcError):
    """No room for another viewer."""
