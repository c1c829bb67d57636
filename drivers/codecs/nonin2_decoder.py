"""Incremental decoder for Nonin serial data format #2: bytes in, packets out.

Framing is a small state machine (STYLE.md §2):

* **Locked**: a frame is expected every 5 bytes. A frame that fails the check (start byte
  0x01, STATUS bit 7, checksum) is dropped in place when the frame after it is valid (one
  damaged frame: alignment kept, lock kept); otherwise the lock is lost.
* **Hunting**: scan for 0x01 and lock only on **two consecutive valid frames**. One frame
  passes by chance about once in 2^17 random positions (0x01, bit 7, 1/256 checksum); two
  in a row about once in 2^34, so garbage practically never gives a false lock. At `flush`,
  when no second frame can follow, a single valid frame is accepted.

Frames are grouped into *segments*: runs with no byte lost between them. A segment becomes
one `Nonin2Packet`. Where a segment sits in the device's 25-frame packet is known when it
starts with SYNC, when it continues a packet without a gap, or when it ends right before a
SYNC frame (it then holds the packet's last frames). Otherwise its numerics are NaN: a byte 4
read at a guessed position would be a wrong value, not a missing one. A SYNC frame arriving
early, or missing after 25 frames, means bytes vanished on a frame boundary without leaving
a trace; that segment's positions are then unknown too (`sync_errors`).

Frames lost in a gap are first estimated from the bytes skipped (rounded to frames), then,
when the positions on both sides are known, set to the nearest count that fits them modulo
25: damaged frames and short losses come out exact, garbage inserted between frames counts
as lost only when it is long (63 bytes or more).
"""

from __future__ import annotations

from typing import Final

from drivers.codecs.nonin2_frame import FRAME_LEN, FRAME_START, FRAMES_PER_PACKET, Nonin2Packet

_CONFIRM: Final = 2 * FRAME_LEN  # bytes needed to check a frame and the one after it


def _valid(buf: bytearray, i: int) -> bool:
    b1 = buf[i + 1]
    return (
        buf[i] == FRAME_START
        and b1 & 0x80 != 0
        and (FRAME_START + b1 + buf[i + 2] + buf[i + 3]) & 0xFF == buf[i + 4]
    )


class Nonin2Decoder:
    """Incremental: feed(bytes) -> list[Nonin2Packet]; resynchronises after garbage,
    truncation and bit flips, and never raises whatever the bytes.

    Counters (cumulative): ``frames_ok`` valid frames; ``frames_dropped`` frames estimated
    lost (the sum of ``frames_lost_before`` over the packets returned); ``bytes_dropped``
    bytes skipped; ``frames_rejected`` frames that failed the check where one was expected;
    ``resyncs`` lock lost and regained; ``sync_errors`` SYNC early or missing;
    ``packets_ok`` / ``packets_incomplete`` packets returned. Invariant:
    bytes fed == 5 * frames_ok + bytes_dropped + pending_bytes.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._locked = False
        self._ever_locked = False
        self._gap = 0  # bytes skipped since the last valid frame
        # Current segment: frames with no byte lost between them.
        self._st: list[int] = []
        self._pl: list[int] = []
        self._b4: list[int] = []
        self._base: int | None = None  # index in the packet of its first frame, if known
        self._seg_gap = 0  # bytes skipped just before its first frame
        # Previous packet returned.
        self._have_prev = False
        self._prev_last: int | None = None  # index of its last frame, if known
        self._carry = 0  # frames known lost at its end, owed to the next packet
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
        """Bytes held until more arrive (a partial frame, or a frame awaiting its check)."""
        return len(self._buf)

    @property
    def locked(self) -> bool:
        """True while frames arrive where expected."""
        return self._locked

    def feed(self, data: bytes) -> list[Nonin2Packet]:
        """Add bytes; return the packets they complete, in order."""
        out: list[Nonin2Packet] = []
        self._buf += data
        self._run(out, final=False)
        return out

    def flush(self) -> list[Nonin2Packet]:
        """Return the pending partial packet (complete=False unless all 25 frames are in).

        Bytes that may still start a frame are kept: feeding may continue after a flush.
        """
        out: list[Nonin2Packet] = []
        self._run(out, final=True)
        if self._st:
            self._emit(out, end_anchored=False)
        return out

    def _drop(self, n: int) -> None:
        self.bytes_dropped += n
        self._gap += n

    def _run(self, out: list[Nonin2Packet], final: bool) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        accept = self._accept
        while True:
            if self._locked:
                while pos + FRAME_LEN <= n:
                    b1 = buf[pos + 1]
                    b2 = buf[pos + 2]
                    b3 = buf[pos + 3]
                    if (
                        buf[pos] != FRAME_START
                        or not b1 & 0x80
                        or (FRAME_START + b1 + b2 + b3) & 0xFF != buf[pos + 4]
                    ):
                        break
                    accept(b1, b2, b3, out)
                    pos += FRAME_LEN
                if pos + _CONFIRM > n:
                    break  # need the next frame to tell a damaged frame from lost alignment
                self.frames_rejected += 1
                if self._st:
                    self._emit(out, end_anchored=False)
                if _valid(buf, pos + FRAME_LEN):
                    self._drop(FRAME_LEN)  # one damaged frame: alignment and lock kept
                    pos += FRAME_LEN
                    continue
                self._locked = False
                self._drop(1)
                pos += 1
                continue
            q = buf.find(FRAME_START, pos)
            if q < 0:
                self._drop(n - pos)
                pos = n
                break
            if q + _CONFIRM > n:
                if final:  # no second frame can come: accept one valid frame
                    while 0 <= q <= n - FRAME_LEN and not _valid(buf, q):
                        q = buf.find(FRAME_START, q + 1)
                    if 0 <= q <= n - FRAME_LEN:
                        self._drop(q - pos)
                        pos = q
                        self._lock()
                        continue
                    q = buf.find(FRAME_START, pos)
                self._drop(q - pos)
                pos = q
                break
            if _valid(buf, q) and _valid(buf, q + FRAME_LEN):
                self._drop(q - pos)
                pos = q
                self._lock()
                continue
            self._drop(q + 1 - pos)
            pos = q + 1
        del buf[:pos]

    def _lock(self) -> None:
        self._locked = True
        if self._ever_locked:
            self.resyncs += 1
        self._ever_locked = True

    def _accept(self, status: int, pleth: int, byte4: int, out: list[Nonin2Packet]) -> None:
        self.frames_ok += 1
        gap = self._gap
        self._gap = 0
        st = self._st
        if status & 0x01:  # SYNC: index 0 of a new packet
            if st:
                self._emit(out, end_anchored=True)
            self._base = 0
            self._seg_gap = gap
        elif not st:
            prev = self._prev_last
            if gap == 0 and prev is not None and prev < FRAMES_PER_PACKET - 1:
                self._base = prev + 1  # continues a packet after a flush
            else:
                if gap == 0 and prev == FRAMES_PER_PACKET - 1:
                    self.sync_errors += 1  # a SYNC frame was due here
                self._base = None
            self._seg_gap = gap
        else:
            base = self._base
            if len(st) + (0 if base is None else base) >= FRAMES_PER_PACKET:
                # 25 slots and no SYNC: frames vanished on frame boundaries, SYNC with them.
                self.sync_errors += 1
                self._emit(out, end_anchored=False, broken=True)
                self._base = None
                self._seg_gap = 0
        self._st.append(status)
        self._pl.append(pleth)
        self._b4.append(byte4)

    def _emit(self, out: list[Nonin2Packet], end_anchored: bool, broken: bool = False) -> None:
        n = len(self._st)
        start = self._base
        base: int | None = start
        carry_next = 0
        if broken:
            base = None
        elif end_anchored:  # the next frame is SYNC: these are the packet's last frames
            end_base = FRAMES_PER_PACKET - n
            if start is None:
                base = end_base if end_base > 0 else None
                if end_base <= 0:
                    self.sync_errors += 1  # 25 frames and the first one had no SYNC
            elif start != end_base:
                # SYNC came early: frames vanished inside this segment, we cannot tell where.
                self.sync_errors += 1
                base = None
                carry_next = max(0, end_base - start)
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
        lost += self._carry
        self._carry = carry_next
        packet = Nonin2Packet.from_raw(self._st, self._pl, self._b4, base, lost)
        self._st = []
        self._pl = []
        self._b4 = []
        self._base = None
        self._have_prev = True
        self._prev_last = None if base is None else base + n - 1
        self.frames_dropped += lost
        if packet.complete:
            self.packets_ok += 1
        else:
            self.packets_incomplete += 1
        out.append(packet)
