"""The nurse's PIN: scrypt hashes, and the kiosk lock that asks for it after idle time.

The lock is enforced by the server: while locked, the kiosk token gets 423 on patient-data
routes (``/api/v1/…`` except ``/api/v1/kiosk/…``) until ``POST /api/v1/kiosk/unlock`` with the
right PIN. Wrong PINs are limited to ``max_tries`` per ``lockout_s``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from gateway.ratelimit import TokenBucketLimiter

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``pin`` (hex fields)."""
    if not (4 <= len(pin) <= 12 and pin.isdigit()):
        raise ValueError("a PIN of 4 to 12 digits")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, encoded: str) -> bool:
    """True if ``pin`` matches ``encoded`` (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = encoded.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            pin.encode()[:64], salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


class KioskLock:
    """Idle lock of the kiosk (no PIN configured: never locks)."""

    def __init__(
        self,
        pin_hash: str | None,
        idle_lock_s: float,
        max_tries: int = 5,
        lockout_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        attended: Callable[[], bool] | None = None,
    ) -> None:
        self.pin_hash = pin_hash
        # While this says True (a consultation is live: the nurse is in the room, in the call)
        # the idle timer is held: a screen that locks mid-call would hide the values the
        # specialist is asking about. Locking by hand still works.
        self.attended = attended
        self.idle_lock_s = idle_lock_s
        self._clock = clock
        self._last_activity_s = clock()
        self._locked = False
        self._tries = TokenBucketLimiter(max_tries * 60.0 / lockout_s, max_tries, clock=clock)

    @property
    def enabled(self) -> bool:
        return self.pin_hash is not None and self.idle_lock_s > 0

    @property
    def locked(self) -> bool:
        """Locked now (idle too long, or locked by hand)."""
        if not self.enabled:
            return False
        if not self._locked and self.attended is not None and self.attended():
            self._last_activity_s = self._clock()
        if self._clock() - self._last_activity_s > self.idle_lock_s:
            self._locked = True
        return self._locked

    def touch(self) -> None:
        """Activity at the kiosk (only while unlocked)."""
        if not self.locked:
            self._last_activity_s = self._clock()

    def lock(self) -> None:
        self._locked = self.enabled

    def unlock(self, pin: str) -> float | None:
        """None if unlocked; else seconds to wait (0.0: wrong PIN, try again now)."""
        wait_s = self._tries.take("kiosk")
        if wait_s > 0:
            return wait_s
        if self.pin_hash is None or not verify_pin(pin, self.pin_hash):
            return 0.0
        self._locked = False
        self._last_activity_s = self._clock()
        self._tries.reset("kiosk")  # the right PIN restores the full allowance
        return None
