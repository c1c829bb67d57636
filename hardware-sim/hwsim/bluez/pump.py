"""A bounded, paced queue for notification signals of the simulated bluetoothd.

dbus-fast's writer drops its connection when a socket send hits EAGAIN, so under a flood of
notifications the simulated bluetoothd would vanish from the bus. Values are therefore written
one at a time, only when dbus-fast's writer is idle and the socket is writable, each awaited
until it has gone out; when a flood outruns the bus the oldest queued values are dropped and
counted. An action (a link loss armed "after the n-th notification") can be queued behind the
values it must follow.
"""

import asyncio
import logging
import select
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from dbus_fast import Message
from dbus_fast.aio import MessageBus

if TYPE_CHECKING:
    from hwsim.bluez.daemon import SimBluez

logger = logging.getLogger(__name__)

QUEUE_MAX: Final = 1024
WRITABLE_POLL_S: Final = 0.001


class NotificationPump:
    """Bounded FIFO of PropertiesChanged(Value) signals, written one at a time when writable."""

    def __init__(self, maxlen: int = QUEUE_MAX) -> None:
        self._queue: deque[tuple[str, Message | Callable[[], None]]] = deque()
        self._maxlen = maxlen
        self._ready = asyncio.Event()
        self.sent = 0
        self.dropped = 0  # overflow: oldest dropped
        self.discarded = 0  # queued when the link went down

    def push(self, device_path: str, msg: Message | Callable[[], None]) -> None:
        """Queue one signal, or an action to run once what is before it went out.

        When full the oldest entry is dropped (an action is never dropped this way).
        """
        if len(self._queue) >= self._maxlen:
            for i, (_, item) in enumerate(self._queue):
                if isinstance(item, Message):
                    del self._queue[i]
                    self.dropped += 1
                    break
        self._queue.append((device_path, msg))
        self._ready.set()

    def forget(self, device_path: str) -> None:
        """Drop what is queued for a device whose link went down."""
        kept = [item for item in self._queue if item[0] != device_path]
        self.discarded += len(self._queue) - len(kept)
        self._queue = deque(kept)

    def clear(self) -> None:
        """Drop everything queued (bus going away)."""
        self.discarded += len(self._queue)
        self._queue.clear()

    @property
    def pending(self) -> int:
        """Signals waiting to be written."""
        return len(self._queue)

    async def run(self, daemon: "SimBluez") -> None:
        """Write queued signals on the daemon's current bus, forever."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                bus = daemon.bus
                if bus is None or not bus.connected:
                    self.clear()
                    break
                await _writable(bus)
                if not self._queue:
                    break
                _, msg = self._queue.popleft()
                if not isinstance(msg, Message):
                    msg()
                    continue
                try:
                    await bus.send(msg)
                except Exception as exc:  # the bus died under us: restart() will rebuild it
                    logger.warning("notification lost, bus gone: %r", exc)
                    continue
                self.sent += 1


async def _writable(bus: MessageBus) -> None:
    """Wait until dbus-fast's writer is idle and its socket has room (see module docstring)."""
    writer: Any = getattr(bus, "_writer", None)
    sock: Any = getattr(bus, "_sock", None)
    while True:
        idle = writer is None or (not writer.messages and writer.buf is None)
        if idle and sock is not None and sock.fileno() >= 0:
            _, ready, _ = select.select([], [sock], [], 0)
            if ready:
                return
        elif idle:
            return
        await asyncio.sleep(WRITABLE_POLL_S)
