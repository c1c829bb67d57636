"""Incremental decoder for Nonin serial data format #7: bytes in, packets out.

Format #7 has no start byte, so a frame is recognised only by STATUS bit 7 and its checksum:
one random position passes about once in 512. The framer (STYLE.md §2) therefore:

* **Hunting**: locks only on **three consecutive valid frames** (chance about 2^-27 per
  position in random bytes). At `flush`, when no more bytes can come, the longest run of
  valid frames at the front is accepted (at least one).
* **Locked**: expects a frame every 5 bytes. A frame that fails the check is dropped in place
  when the frame after it is valid (alignment kept); otherwise the lock is lost and the
  decoder hunts again byte by byte.

Frames form *segments* (no byte lost between them); a segment becomes one `Nonin7Packet`. A
segment's place in the device packet is known when it starts with SYNC, continues a packet
without a gap, or ends right before a SYNC frame; otherwise its numerics are NaN. Frames lost
in a gap are estimated from the skipped bytes and, when the positions on both sides are known,
set to the nearest count that fits them modulo 25.
"""

from __future__ import annotations

from typing import Final

from drivers.codecs.nonin7_frame import FRAME_LEN, FRAMES_PER_PACKET, Nonin7Packet

_LOCK_FRAMES: Final = 3
_SYNC: Final = 0x01


def _valid(buf: bytearray, i: int) -> bool:
    b0 = buf[i]
    return b0 & 0x80 != 0 and (b0 + buf[i + 1] + buf[i + 2] + buf[i + 3]) & 0xFF == buf[i + 4]


class Nonin7Decoder:
    """Incremental: feed(bytes) -> list[Nonin7Packet]; never raises whatever the bytes.

    Counters (cumulative): ``frames_ok`` valid frames; ``frames_dropped`` frames estimated
    lost (sum of ``frames_lost_before``); ``bytes_dropped`` bytes skipped;
    ``frames_rejected`` frames that failed the check where one was expected; ``resyncs`` lock
    lost and regained; ``sync_errors`` SYNC early or missing; ``packets_ok`` /
    ``packets_incomplete``. Invariant: bytes fed == 5 * frames_ok + bytes_dropped +
    pending_bytes.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._locked = False
        self._ever_locked = False
        self._gap = 0
        self._st: list[int] = []
        self._pl: list[int] = []
        self._b4: list[int] = []
        self._base: int | None = None
        self._seg_gap = 0
        self._have_prev = False
        self._prev_last: int | None = None
        self.frames_ok = 0
        self.frames_dropped = 0
        self.bytes_dropped = 0
        self.frames_rejected = 0
        self.resyncs = 0
        self.sync_errors = 0
        self.packets_ok = 0
        self.packets_incomplete = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes held until more arrive."""
        return len(self._buf)

    @property
    def locked(self) -> bool:
        """True while frames arrive where expected."""
        return self._locked

    def feed(self, data: bytes) -> list[Nonin7Packet]:
        """Add bytes; return the packets they complete, in order."""
        out: list[Nonin7Packet] = []
        self._buf += data
        self._run(out, final=False)
        return out

    def flush(self) -> list[Nonin7Packet]:
        """Return the pending partial packet; bytes that may still start a frame are kept."""
        out: list[Nonin7Packet] = []
        self._run(out, final=True)
        if self._st:
            self._emit(out, end_anchored=False)
        return out

    def _drop(self, n: int) -> None:
        self.bytes_dropped += n
        self._gap += n

    def _run(self, out: list[Nonin7Packet], final: bool) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        while True:
            if self._locked:
                while pos + FRAME_LEN <= n and _valid(buf, pos):
                    self._accept(buf[pos], (buf[pos + 1] << 8) | buf[pos + 2], buf[pos + 3], out)
                    pos += FRAME_LEN
                if pos + 2 * FRAME_LEN > n:
                    break  # need the next frame to tell a damaged frame from lost alignment
                self.frames_rejected += 1
                if self._st:
                    self._emit(out, end_anchored=False)
                if _valid(buf, pos + FRAME_LEN):
                    self._drop(FRAME_LEN)
                    pos += FRAME_LEN
                    continue
                self._locked = False
                self._drop(1)
                pos += 1
                continue
            need = _LOCK_FRAMES * FRAME_LEN
            if pos + need > n and not final:
                break
            if pos + FRAME_LEN > n:
                break
            run = 0
            while run < _LOCK_FRAMES and pos + (run + 1) * FRAME_LEN <= n:
                if not _valid(buf, pos + run * FRAME_LEN):
                    break
                run += 1
            if run == _LOCK_FRAMES or (final and run >= 1 and pos + (run + 1) * FRAME_LEN > n):
                self._lock()
                continue
            self._drop(1)
            pos += 1
        del buf[:pos]

    def _lock(self) -> None:
        self._locked = True
        if self._ever_locked:
            self.resyncs += 1
        self._ever_locked = True

    def _accept(self, status: int, pleth: int, byte4: int, out: list[Nonin7Packet]) -> None:
        self.frames_ok += 1
        gap = self._gap
        self._gap = 0
        if gap and self._st:
            self._emit(out, end_anchored=False)
        if status & _SYNC:
            if self._st:
                self._emit(out, end_anchored=True)
            self._base = 0
            self._seg_gap = gap
        elif not self._st:
            prev = self._prev_last
            if gap == 0 and prev is not None and prev < FRAMES_PER_PACKET - 1:
                self._base = prev + 1  # continues a packet emitted early (flush or gap)
            else:
                if gap == 0 and prev == FRAMES_PER_PACKET - 1:
                    self.sync_errors += 1  # a SYNC frame was due here
                self._base = None
            self._seg_gap = gap
        elif len(self._st) + (self._base or 0) >= FRAMES_PER_PACKET:
            self.sync_errors += 1  # 25 slots and no SYNC: frames vanished on boundaries
            self._emit(out, end_anchored=False, broken=True)
            self._base = None
            self._seg_gap = 0
        self._st.append(status)
        self._pl.append(pleth)
        self._b4.append(byte4)
        if self._base is not None and self._base + len(self._st) == FRAMES_PER_PACKET:
            self._emit(out, end_anchored=False)  # whole packet: no need to wait for SYNC

    def _emit(self, out: list[Nonin7Packet], end_anchored: bool, broken: bool = False) -> None:
        n = len(self._st)
        base = None if broken else self._base
        if end_anchored and not broken:
            end_base = FRAMES_PER_PACKET - n
            if base is None:
                base = end_base if end_base > 0 else None
            elif base != end_base:
                self.sync_errors += 1  # SYNC early: frames vanished inside this segment
                base = None
        lost = 0
        if self._have_prev and self._seg_gap:
            estimate = (self._seg_gap + 2) // FRAME_LEN
            prev = self._prev_last
            if prev is not None and base is not None:
                fits = (base - prev - 1) % FRAMES_PER_PACKET
                lost = fits + FRAMES_PER_PACKET * max(
                    0, round((estimate - fits) / FRAMES_PER_PACKET)
                )
            else:
                lost = estimate
        packet = Nonin7Packet.from_raw(self._st, self._pl, self._b4, base, lost)
        self._st, self._pl, self._b4 = [], [], []
        self._base = None
        self._seg_gap = 0
        self._have_prev = True
        self._prev_last = None if base is None else base + n - 1
        self.frames_dropped += lost
        if packet.complete:
            self.packets_ok += 1
        else:
            self.packets_incomplete += 1
        out.append(packet)
