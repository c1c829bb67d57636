"""Faults a simulated BLE peripheral can suffer, armed at run time and counted.

Peripheral faults (methods on :class:`hwsim.bluez.peripherals.SimPeripheral`):

- ``fail_next_connect("InProgress" | "Failed")``: the next ``Device1.Connect`` gets that error;
- ``link_loss()`` now, or ``link_loss_after(n)``: the link drops right after the n-th next
  notification/indication (so in the middle of an indication sequence such as an RACP report);
- ``out_of_range()`` / ``back_in_range()``: the device stops advertising, its link drops and
  BlueZ removes the device object (InterfacesRemoved); back in range it is found again;
- ``garbage(n)``: the next n notifications carry random bytes of a random length;
- ``flood(n)``: n notifications at once on the busiest characteristic.

Adapter and daemon faults live on :class:`hwsim.bluez.daemon.SimBluez`: ``power_off()`` /
``power_on()`` and ``restart()`` (bluetoothd restart: the ``org.bluez`` owner changes).

:data:`COMMANDS` maps JSON-lines control commands to these, for the room's control socket.
"""

import collections
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hwsim.errors import CommandError

CONNECT_ERRORS: Final[Mapping[str, tuple[str, str]]] = {
    "InProgress": ("org.bluez.Error.InProgress", "In Progress"),
    "Failed": ("org.bluez.Error.Failed", "Software caused connection abort"),
    "NotReady": ("org.bluez.Error.NotReady", "Resource Not Ready"),
}
MAX_ARMED: Final = 16
GARBAGE_MAX_BYTES: Final = 24


@dataclass(slots=True)
class FaultCounters:
    """What was injected since the peripheral was created."""

    connect_errors: int = 0
    link_losses: int = 0
    out_of_range: int = 0
    garbage_payloads: int = 0
    flood_notifications: int = 0


class PeripheralFaults:
    """Armed faults of one peripheral; consulted by the daemon and the peripheral's sender."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._connect_errors: collections.deque[tuple[str, str]] = collections.deque(
            maxlen=MAX_ARMED
        )
        self.link_loss_after: int | None = None
        self.garbage_remaining = 0
        self.counters = FaultCounters()

    def arm_connect_error(self, kind: str) -> None:
        """Make the next Connect fail with a BlueZ error of `kind` (a key of CONNECT_ERRORS)."""
        if kind not in CONNECT_ERRORS:
            raise CommandError(
                f"unknown connect error {kind!r}, expected one of {sorted(CONNECT_ERRORS)}"
            )
        self._connect_errors.append(CONNECT_ERRORS[kind])

    def take_connect_error(self) -> tuple[str, str] | None:
        """The armed Connect error, if any (consumed)."""
        if not self._connect_errors:
            return None
        self.counters.connect_errors += 1
        return self._connect_errors.popleft()

    def arm_link_loss_after(self, n: int) -> None:
        """Drop the link right after the n-th next notification (n >= 1)."""
        if n < 1:
            raise CommandError(f"link_loss_after needs n >= 1, got {n}")
        self.link_loss_after = n

    def arm_garbage(self, n: int) -> None:
        """Replace the next n notifications by random bytes."""
        if n < 1:
            raise CommandError(f"garbage needs n >= 1, got {n}")
        self.garbage_remaining += n

    def payload(self, value: bytes) -> bytes:
        """What actually goes out instead of `value` (garbage while armed)."""
        if self.garbage_remaining <= 0:
            return value
        self.garbage_remaining -= 1
        self.counters.garbage_payloads += 1
        n = self._rng.randint(1, GARBAGE_MAX_BYTES)
        return bytes(self._rng.getrandbits(8) for _ in range(n))

    def sent_one(self) -> bool:
        """Count one notification sent; True when the link must drop now."""
        if self.link_loss_after is None:
            return False
        self.link_loss_after -= 1
        if self.link_loss_after > 0:
            return False
        self.link_loss_after = None
        return True
