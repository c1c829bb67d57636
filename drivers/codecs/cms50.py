"""Contec CMS50D+ class pulse oximeters: live data in either firmware protocol, detected.

Two live formats are in the field (``docs/protocols/cms50.md`` has the byte tables, what was
verified and against which source):

* **legacy** (older CMS50D+ firmware, 19200 baud): the device streams 5-byte frames, 60 a
  second, unasked. Bit 7 is set on byte 1 only (the sync bit)::

      1  1 | beep | SpO2 dropping | searching too long | signal strength (4 bits)
      2  0 | pleth (7 bits)
      3  0 | PR bit 7 | searching | probe error | bar graph (4 bits)
      4  0 | PR bits 6..0
      5  0 | SpO2 (7 bits)

* **v7** (Contec "Communication protocol of pulse oximeter V7.0", firmware 4.6 and later,
  115200 baud): nothing is sent until the host sends the start-live command; then 9-byte
  packets, 60 a second. Byte 0 is the packet type (bit 7 clear; 0x01 = real-time data),
  byte 1 holds bit 7 of the data bytes that follow (bit k -> data byte k+1) with its own bit
  7 set, and every data byte is sent with bit 7 set. The host repeats a keep-alive command
  every 5 s. Live data, after restoring bit 7::

      DATA1  probe error | beep | SpO2 dropping | searching too long | signal strength
      DATA2  searching | pleth (7 bits)        DATA3  bar graph (bits 3..0)
      DATA4  PR (8 bits)    DATA5  SpO2    DATA6, DATA7  PI low, high (0xFFFF: none)

`Cms50Decoder` finds which format a stream speaks from the bytes (three legacy frames or two
v7 live packets in a row) and decodes it. No-value rules (not in any specification found,
seen in captures and readers): PR 0 or 255, SpO2 0 or above 100 -> NaN.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

from drivers.errors import CodecError
from drivers.model import QualityFlag

CODEC_NAME = "serial.cms50"
SAMPLES_PER_S: Final = 60
LEGACY_LEN: Final = 5
V7_LEN: Final = 9
V7_LIVE_TYPE: Final = 0x01
LEGACY_BAUD: Final = 19200
V7_BAUD: Final = 115200
KEEPALIVE_INTERVAL_S: Final = 5.0
_LEGACY_LOCK: Final = 3
_V7_LOCK: Final = 2
_OTHER_MAX_LEN: Final = 32  # longest other v7 packet skipped whole (longer: bytes dropped)
_V7_OTHER_TYPES: Final = (0x02, 0x1F)  # reply packet types (OSCAR cms50f37 loader: 0x02..0x14)


def command(code: int) -> bytes:
    """A v7 host command: 0x7D, 0x81, code, six 0x80 padding bytes."""
    if not 0x80 <= code <= 0xFF:
        raise CodecError(f"cms50 command code 0x{code:x} must be 0x80..0xff")
    return bytes((0x7D, 0x81, code)) + b"\x80" * 6


START_LIVE: Final = command(0xA1)  # ask for continuous real-time data
KEEP_ALIVE: Final = command(0xAF)  # "the host is still connected", every 5 s
STOP_LIVE: Final = command(0xA2)  # stop real-time data (seen in readers as a "hello" step)


class Protocol(enum.Enum):
    """Which live format a CMS50 speaks."""

    LEGACY = "legacy"
    V7 = "v7"


@dataclass(frozen=True, slots=True)
class Cms50Sample:
    """One live packet (1/60 s): a pleth sample, the bar graph and the current numerics."""

    protocol: Protocol
    signal_strength: int  # 0..15 (0..8 used)
    searching_too_long: bool
    spo2_dropping: bool
    pulse_beep: bool
    pleth: int  # 7 bits
    bargraph: int  # 0..15
    searching: bool
    probe_error: bool  # probe off / finger out / sensor error
    pr_raw: int  # 0..255
    spo2_raw: int  # 0..127
    pi_raw: int | None = None  # v7 only: 16 bits, 0xFFFF = no value
    samples_lost_before: int = 0

    def __post_init__(self) -> None:
        for name, top in (
            ("signal_strength", 15),
            ("pleth", 127),
            ("bargraph", 15),
            ("pr_raw", 255),
            ("spo2_raw", 127),
        ):
            value = getattr(self, name)
            if not 0 <= value <= top:
                raise CodecError(f"cms50 sample: {name} {value} is outside 0..{top}")
        if self.pi_raw is not None and not 0 <= self.pi_raw <= 0xFFFF:
            raise CodecError(f"cms50 sample: pi_raw {self.pi_raw} is outside 0..65535")
        if self.samples_lost_before < 0:
            raise CodecError(f"cms50 sample: samples_lost_before {self.samples_lost_before} < 0")

    @classmethod
    def from_legacy(cls, data: bytes, samples_lost_before: int = 0) -> Cms50Sample:
        """Decode one 5-byte legacy frame; CodecError names the offset and the fault."""
        if len(data) != LEGACY_LEN:
            raise CodecError(f"cms50 legacy frame: expected 5 bytes, got {len(data)}")
        if not data[0] & 0x80:
            raise CodecError(
                f"cms50 legacy frame: offset 0: sync bit 7 must be 1, got 0x{data[0]:02x}"
            )
        for offset in range(1, LEGACY_LEN):
            if data[offset] & 0x80:
                raise CodecError(
                    f"cms50 legacy frame: offset {offset}: bit 7 must be 0, "
                    f"got 0x{data[offset]:02x}"
                )
        b1, b2, b3, b4, b5 = data
        return cls(
            Protocol.LEGACY,
            signal_strength=b1 & 0x0F,
            searching_too_long=bool(b1 & 0x10),
            spo2_dropping=bool(b1 & 0x20),
            pulse_beep=bool(b1 & 0x40),
            pleth=b2,
            bargraph=b3 & 0x0F,
            probe_error=bool(b3 & 0x10),
            searching=bool(b3 & 0x20),
            pr_raw=((b3 & 0x40) << 1) | b4,
            spo2_raw=b5,
            samples_lost_before=samples_lost_before,
        )

    @classmethod
    def from_v7(cls, data: bytes, samples_lost_before: int = 0) -> Cms50Sample:
        """Decode one 9-byte v7 real-time packet; CodecError names the offset and the fault."""
        if len(data) != V7_LEN:
            raise CodecError(f"cms50 v7 packet: expected 9 bytes, got {len(data)}")
        if data[0] != V7_LIVE_TYPE:
            raise CodecError(
                f"cms50 v7 packet: offset 0: type must be 0x01 (real-time data), "
                f"got 0x{data[0]:02x}"
            )
        for offset in range(1, V7_LEN):
            if not data[offset] & 0x80:
                raise CodecError(
                    f"cms50 v7 packet: offset {offset}: bit 7 must be 1, got 0x{data[offset]:02x}"
                )
        high = data[1]
        d = [(data[2 + k] & 0x7F) | (0x80 if high >> k & 1 else 0) for k in range(7)]
        return cls(
            Protocol.V7,
            signal_strength=d[0] & 0x0F,
            searching_too_long=bool(d[0] & 0x10),
            spo2_dropping=bool(d[0] & 0x20),
            pulse_beep=bool(d[0] & 0x40),
            probe_error=bool(d[0] & 0x80),
            pleth=d[1] & 0x7F,
            searching=bool(d[1] & 0x80),
            bargraph=d[2] & 0x0F,
            pr_raw=d[3],
            spo2_raw=d[4] & 0x7F,
            pi_raw=d[5] | (d[6] << 8),
            samples_lost_before=samples_lost_before,
        )

    @property
    def pulse_bpm(self) -> float:
        """Pulse rate; NaN for 0 or 255 and while the probe reports an error."""
        if self.probe_error or self.pr_raw in (0, 255):
            return math.nan
        return float(self.pr_raw)

    @property
    def spo2_pct(self) -> float:
        """SpO2; NaN for 0, values above 100, and while the probe reports an error."""
        if self.probe_error or not 0 < self.spo2_raw <= 100:
            return math.nan
        return float(self.spo2_raw)

    def flags(self) -> dict[str, bool]:
        """The status bits as booleans (for JSON)."""
        return {
            "probe_error": self.probe_error,
            "searching": self.searching,
            "searching_too_long": self.searching_too_long,
            "spo2_dropping": self.spo2_dropping,
            "pulse_beep": self.pulse_beep,
        }

    def status_quality(self) -> QualityFlag:
        """Probe error -> SENSOR_DISCONNECTED; searching -> OUT_OF_TRACK; searching too
        long -> SENSOR_ALARM; GAP_BEFORE after lost samples."""
        flags = QualityFlag.NONE
        if self.probe_error:
            flags |= QualityFlag.SENSOR_DISCONNECTED
        if self.searching:
            flags |= QualityFlag.OUT_OF_TRACK
        if self.searching_too_long:
            flags |= QualityFlag.SENSOR_ALARM
        if self.samples_lost_before:
            flags |= QualityFlag.GAP_BEFORE
        return flags


def _legacy_ok(buf: bytes | bytearray, i: int) -> bool:
    return (
        i + LEGACY_LEN <= len(buf)
        and buf[i] & 0x80 != 0
        and not (buf[i + 1] | buf[i + 2] | buf[i + 3] | buf[i + 4]) & 0x80
    )


def _v7_ok(buf: bytes | bytearray, i: int) -> bool:
    if i + V7_LEN > len(buf) or buf[i] != V7_LIVE_TYPE:
        return False
    return all(buf[i + k] & 0x80 for k in range(1, V7_LEN))


class Cms50Decoder:
    """Incremental: feed(bytes) -> list[Cms50Sample]; detects the protocol, never raises.

    ``protocol`` is None until the stream shows three legacy frames or two v7 live packets
    in a row (or was given). Locked, a unit that does not fit loses the lock and the decoder
    hunts again (same protocol). Other v7 packets (replies to commands) are skipped whole and
    counted in ``packets_other`` / ``bytes_other``. Counters: ``frames_ok``,
    ``frames_dropped`` (samples estimated lost), ``bytes_dropped``, ``frames_rejected``,
    ``resyncs``. Invariant: bytes fed == unit length * frames_ok + bytes_dropped +
    bytes_other + pending_bytes.
    """

    def __init__(self, protocol: Protocol | None = None) -> None:
        self.protocol = protocol
        self._buf = bytearray()
        self._locked = False
        self._ever_locked = False
        self._gap = 0
        self._have_prev = False
        self.frames_ok = 0
        self.frames_dropped = 0
        self.bytes_dropped = 0
        self.frames_rejected = 0
        self.resyncs = 0
        self.packets_other = 0
        self.bytes_other = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes held until more arrive."""
        return len(self._buf)

    @property
    def locked(self) -> bool:
        """True while units arrive where expected."""
        return self._locked

    def feed(self, data: bytes) -> list[Cms50Sample]:
        """Add bytes; return the samples they complete, in order."""
        out: list[Cms50Sample] = []
        self._buf += data
        self._run(out, final=False)
        return out

    def flush(self) -> list[Cms50Sample]:
        """Accept a trailing run shorter than the lock needs when nothing follows it."""
        out: list[Cms50Sample] = []
        self._run(out, final=True)
        return out

    def _unit(self) -> int:
        return LEGACY_LEN if self.protocol is Protocol.LEGACY else V7_LEN

    def _run(self, out: list[Cms50Sample], final: bool) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        while pos < n:
            if self._locked:
                step = self._locked_step(buf, pos, n, out)
                if step == 0:
                    break
                pos += step
                continue
            found = self._hunt(buf, pos, n, final)
            if found is None:
                break  # wait for more bytes
            if found:
                self._lock()
                continue
            self._drop(1)
            pos += 1
        del buf[:pos]

    def _locked_step(self, buf: bytearray, pos: int, n: int, out: list[Cms50Sample]) -> int:
        """Bytes consumed at ``pos`` while locked; 0 = wait for more bytes."""
        if self.protocol is Protocol.LEGACY:
            if buf[pos] & 0x80 and pos + LEGACY_LEN > n:
                return 0  # a frame may be starting
            if _legacy_ok(buf, pos):
                self._accept(bytes(buf[pos : pos + LEGACY_LEN]), out)
                return LEGACY_LEN
        elif _V7_OTHER_TYPES[0] <= buf[pos] <= _V7_OTHER_TYPES[1]:
            end = pos + 1
            while end < n and buf[end] & 0x80 and end - pos < _OTHER_MAX_LEN:
                end += 1
            if end == n and end - pos < _OTHER_MAX_LEN:
                return 0  # the packet may go on
            if 2 <= end - pos < _OTHER_MAX_LEN:
                self.packets_other += 1
                self.bytes_other += end - pos
                return end - pos
        elif buf[pos] == V7_LIVE_TYPE and pos + V7_LEN > n:
            return 0  # a live packet may be starting
        elif _v7_ok(buf, pos):
            self._accept(bytes(buf[pos : pos + V7_LEN]), out)
            return V7_LEN
        self.frames_rejected += 1  # cannot start a unit here: hunt again
        self._locked = False
        self._drop(1)
        return 1

    def _hunt(self, buf: bytearray, pos: int, n: int, final: bool) -> bool | None:
        """At ``pos``: True = lock here, False = not here, None = need more bytes."""
        candidates = []
        if self.protocol in (None, Protocol.LEGACY):
            candidates.append((Protocol.LEGACY, _legacy_ok, LEGACY_LEN, _LEGACY_LOCK))
        if self.protocol in (None, Protocol.V7):
            candidates.append((Protocol.V7, _v7_ok, V7_LEN, _V7_LOCK))
        waiting = False
        for protocol, ok, length, needed in candidates:
            run = 0
            while run < needed and ok(buf, pos + run * length):
                run += 1
            if run == needed or (run and final and pos + (run + 1) * length > n):
                self.protocol = protocol
                return True
            if pos + (run + 1) * length > n and not final:
                # The unit after the run is not all here yet: it may still fit.
                first = buf[pos]
                if run or (protocol is Protocol.LEGACY and first & 0x80) or first == 0x01:
                    waiting = True
        return None if waiting else False

    def _drop(self, n: int) -> None:
        self.bytes_dropped += n
        self._gap += n

    def _lock(self) -> None:
        self._locked = True
        if self._ever_locked:
            self.resyncs += 1
        self._ever_locked = True

    def _accept(self, raw: bytes, out: list[Cms50Sample]) -> None:
        unit = len(raw)
        lost = (self._gap + unit // 2) // unit if self._have_prev else 0
        self._gap = 0
        self._have_prev = True
        self.frames_ok += 1
        self.frames_dropped += lost
        if unit == LEGACY_LEN:
            out.append(Cms50Sample.from_legacy(raw, lost))
        else:
            out.append(Cms50Sample.from_v7(raw, lost))


def describe(data: bytes) -> dict[str, object]:
    """Decode a legacy frame, a v7 packet or a stream into a JSON-ready dict.

    Raises CodecError (one line) when ``data`` holds no live packet of either format.
    """
    decoder = Cms50Decoder()
    samples = decoder.feed(data) + decoder.flush()
    if not samples:
        raise CodecError(
            f"no cms50 live data in {len(data)} bytes (legacy: 5-byte frames with bit 7 set "
            "on the first byte only; v7: 0x01 then 8 bytes with bit 7 set)"
        )
    last = samples[-1]
    flags = {name: any(s.flags()[name] for s in samples) for name in last.flags()}
    quality = QualityFlag.NONE
    for sample in samples:
        quality |= sample.status_quality()
    warnings: list[str] = []
    if math.isnan(last.spo2_pct):
        warnings.append(f"spo2_pct: no value (raw {last.spo2_raw})")
    if math.isnan(last.pulse_bpm):
        warnings.append(f"pulse_bpm: no value (raw {last.pr_raw})")
    if decoder.bytes_dropped:
        warnings.append(f"{decoder.bytes_dropped} byte(s) skipped while looking for packets")
    if decoder.frames_dropped:
        warnings.append(f"about {decoder.frames_dropped} sample(s) lost in gaps")
    if decoder.packets_other:
        warnings.append(f"{decoder.packets_other} non-live packet(s) skipped")
    if decoder.pending_bytes:
        warnings.append(f"{decoder.pending_bytes} trailing byte(s) do not make a packet")
    for name, text in (
        ("probe_error", "probe error / finger out"),
        ("searching", "searching for a pulse"),
        ("searching_too_long", "searching too long"),
    ):
        if flags[name]:
            count = sum(1 for s in samples if s.flags()[name])
            warnings.append(f"{text} in {count} of {len(samples)} packet(s)")
    pi_raw = last.pi_raw
    return {
        "codec": CODEC_NAME,
        "protocol": last.protocol.value,
        "kind": "packet" if len(samples) == 1 else "stream",
        "packets": len(samples),
        "frames_lost": decoder.frames_dropped,
        "bytes_skipped": decoder.bytes_dropped,
        "spo2_pct": None if math.isnan(last.spo2_pct) else int(last.spo2_pct),
        "pulse_bpm": None if math.isnan(last.pulse_bpm) else int(last.pulse_bpm),
        "pleth": [s.pleth for s in samples],
        "bargraph": last.bargraph,
        "signal_strength": last.signal_strength,
        "pi_raw": None if pi_raw is None or pi_raw == 0xFFFF else pi_raw,
        **flags,
        "quality": quality.names(),
        "warnings": warnings,
    }
