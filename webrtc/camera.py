"""Cameras the gateway owns: opencv capture (V4L2 path or index) or a frame-source callable.

One capture thread per camera runs while anyone watches (a viewer's track or a snapshot);
the newest frame is handed to the event loop with ``call_soon_threadsafe`` and kept for
snapshots. Subscribers get a one-slot mailbox: a slow encoder skips frames, never queues them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from webrtc.errors import CameraError, SubscriptionClosed

logger = logging.getLogger(__name__)

Image = NDArray[np.uint8]
FrameSource = Callable[[], Image]
"""Returns the next BGR frame (called at the camera's fps from the capture thread)."""

FIRST_FRAME_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """A BGR frame and when it was captured (wall clock for people, monotonic for maths)."""

    image: Image
    wall_s: float
    monotonic_s: float
    index: int


class _Mailbox:
    """Holds the newest frame for one subscriber (bounded to one: older frames are dropped)."""

    def __init__(self) -> None:
        self.frame: CapturedFrame | None = None
        self.event = asyncio.Event()
        self.skipped = 0
        self.closed = False

    def put(self, frame: CapturedFrame) -> None:
        if self.frame is not None:
            self.skipped += 1
        self.frame = frame
        self.event.set()

    async def get(self) -> CapturedFrame:
        await self.event.wait()
        if self.closed:  # wake the waiter rather than leave it (and any lock it holds) hanging
            raise SubscriptionClosed("camera subscription closed")
        self.event.clear()
        frame, self.frame = self.frame, None
        assert frame is not None
        return frame

    def close(self) -> None:
        self.closed = True
        self.event.set()


class CameraSource:
    """A camera: ``source`` is a V4L2 device path, an opencv index, or a FrameSource."""

    def __init__(
        self,
        camera_id: str,
        source: str | int | FrameSource,
        *,
        width: int,
        height: int,
        fps: float,
        label: str = "",
    ) -> None:
        self.id, self.label = camera_id, label
        self.source = source
        self.width, self.height, self.fps = width, height, fps
        self.frames_captured = 0
        self.read_errors = 0
        self.latest: CapturedFrame | None = None
        self._mailboxes: set[_Mailbox] = set()
        self._users = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- capture thread -------------------------------------------------------------------

    def _open(self) -> tuple[Callable[[], Image | None], Callable[[], None]]:
        if callable(self.source):
            return self.source, lambda: None
        cap = cv2.VideoCapture(self.source, cv2.CAP_V4L2 if isinstance(self.source, str) else 0)
        if not cap.isOpened():
            raise CameraError(
                f"camera {self.id!r}: cannot open {self.source!r} (is the device present and "
                "readable by the gateway user? see `v4l2-ctl --list-devices`)"
            )
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a queue of old ones

        def read() -> Image | None:
            ok, img = cap.read()
            return np.asarray(img, np.uint8) if ok else None

        return read, cap.release

    def _run(self, stop: threading.Event) -> None:
        try:
            read, release = self._open()
        except CameraError:
            logger.warning("camera %s cannot be opened", self.id, exc_info=True)
            return
        period = 1.0 / self.fps
        next_t = time.monotonic()
        try:
            while not stop.is_set():
                if callable(self.source):  # a real camera paces itself; a callable does not
                    delay = next_t - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        break
                    next_t = max(next_t + period, time.monotonic() - period)
                img = read()
                if img is None:
                    self.read_errors += 1
                    stop.wait(0.1)
                    continue
                frame = CapturedFrame(img, time.time(), time.monotonic(), self.frames_captured)
                self.frames_captured += 1
                loop = self._loop
                if loop is not None and not loop.is_closed() and not stop.is_set():
                    with contextlib.suppress(RuntimeError):  # loop closing under us
                        loop.call_soon_threadsafe(self._deliver, frame)
        finally:
            release()

    def _deliver(self, frame: CapturedFrame) -> None:
        self.latest = frame
        for box in self._mailboxes:
            box.put(frame)

    # -- users -----------------------------------------------------------------------------

    def _acquire(self) -> None:
        self._users += 1
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name=f"camera-{self.id}", daemon=True
            )
            self._thread.start()

    def _release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._thread is not None:
            self._stop.set()
            self._thread = None  # it ends within one frame; a new user starts a fresh one
            self.latest = None

    def subscribe(self) -> Subscription:
        """A subscription to this camera's frames (starts capture); close it when done."""
        box = _Mailbox()
        self._mailboxes.add(box)
        self._acquire()
        return Subscription(self, box)

    def _unsubscribe(self, box: _Mailbox) -> None:
        box.close()
        if box in self._mailboxes:
            self._mailboxes.discard(box)
            self._release()

    async def snapshot(self) -> CapturedFrame:
        """A full-resolution frame (starting the camera briefly if nobody is watching)."""
        if self.latest is not None and self._users:
            return self.latest
        sub = self.subscribe()
        try:
            try:
                return await asyncio.wait_for(sub.next(), FIRST_FRAME_TIMEOUT_S)
            except TimeoutError:
                raise CameraError(
                    f"camera {self.id!r} gave no frame within {FIRST_FRAME_TIMEOUT_S:.0f} s"
                ) from None
        finally:
            sub.close()

    def close(self) -> None:
        """Stop the capture thread (at shutdown)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2.0)


class Subscription:
    """One subscriber's view of a camera: ``await next()`` gives the newest unseen frame."""

    def __init__(self, camera: CameraSource, box: _Mailbox) -> None:
        self._camera, self._box = camera, box

    @property
    def skipped(self) -> int:
        """Frames this subscriber never took (it was busy encoding)."""
        return self._box.skipped

    async def next(self) -> CapturedFrame:
        """The newest frame not yet taken (waits for one)."""
        return await self._box.get()

    def close(self) -> None:
        """Unsubscribe (idempotent); the capture stops when nobody is subscribed."""
        self._camera._unsubscribe(self._box)


def encode_jpeg(image: Image, quality: int = 92) -> bytes:
    """A BGR image as JPEG bytes (opencv)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CameraError("opencv could not encode the snapshot as JPEG")
    return bytes(buf.tobytes())
