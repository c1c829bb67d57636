"""Nonin serial data format #8 (pulse oximeter, 9600 baud 8N1): 4-byte records, once a second.

Record::

    byte 1  STATUS   bit 7 = 1, SNSD, OOT, LPRF, MPRF, ARTF, HR bit 8, HR bit 7
    byte 2  HR       bit 7 = 0, HR bits 6..0         (HR 9 bits; 511 = no value)
    byte 3  SpO2     bit 7 = 0, 0..100               (127 = no value)
    byte 4  STATUS2  bit 7 = 0, SPA (bit 5), SNSA (bit 3), battery bits (bits 1, 0)

There is no start byte and no checksum: a record is recognised only by bit 7 (set on byte 1,
clear on bytes 2-4), so the decoder locks on two consecutive plausible records and, once
locked, takes each record as it arrives. Sources and a decoded record:
``docs/protocols/nonin7-8.md``. `describe` is ``helserom decode serial.nonin8 HEX``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

from drivers.errors import CodecError
from drivers.model import QualityFlag

CODEC_NAME = "serial.nonin8"
RECORD_LEN: Final = 4
RECORDS_PER_S: Final = 1
HR_MISSING: Final = 511
SPO2_MISSING: Final = 127
HR_MAX_BPM: Final = 321  # Nonin's displayed pulse-rate range ends at 321 bpm (OEM specs)
_LOCK_RECORDS: Final = 2


class Nonin8Status(enum.IntFlag):
    """STATUS byte (record byte 1)."""

    HR7 = 0x01  # HR bit 7
    HR8 = 0x02  # HR bit 8
    ARTF = 0x04  # artifact on a pulse
    MPRF = 0x08  # marginal perfusion (yellow), holds for the whole second
    LPRF = 0x10  # low or no perfusion (red), holds for the whole second
    OOT = 0x20  # out of track: no consecutive good pulses
    SNSD = 0x40  # sensor disconnected or inoperable
    ALWAYS_ONE = 0x80


class Nonin8Status2(enum.IntFlag):
    """STATUS2 byte (record byte 4). Bits 6, 4 and 2 are reserved (kept, not named)."""

    LOW_BATTERY = 0x01  # less than about 30 min of battery left (WristOx2 / Onyx II)
    BATTERY_CRITICAL = 0x02  # the device turns off after sending this (WristOx2 3150)
    SNSA = 0x08  # sensor alarm: the device is giving unusable data
    SPA = 0x20  # SmartPoint algorithm: a high-quality measurement


_FLAG_QUALITY: Final = (
    (Nonin8Status.SNSD, QualityFlag.SENSOR_DISCONNECTED),
    (Nonin8Status.ARTF, QualityFlag.ARTIFACT),
    (Nonin8Status.OOT, QualityFlag.OUT_OF_TRACK),
    (Nonin8Status.LPRF, QualityFlag.LOW_PERFUSION),
    (Nonin8Status.MPRF, QualityFlag.MARGINAL_PERFUSION),
)
_STATUS_NAMES: Final = ("SNSD", "OOT", "LPRF", "MPRF", "ARTF")
_STATUS2_NAMES: Final = ("SPA", "SNSA", "BATTERY_CRITICAL", "LOW_BATTERY")


def record_shape_ok(data: bytes | bytearray, offset: int = 0) -> bool:
    """True when the 4 bytes at ``offset`` have the record's bit-7 pattern (1, 0, 0, 0)."""
    if offset < 0 or offset + RECORD_LEN > len(data):
        return False
    return (
        data[offset] & 0x80 != 0
        and data[offset + 1] < 0x80
        and data[offset + 2] < 0x80
        and data[offset + 3] < 0x80
    )


def record_plausible(data: bytes | bytearray, offset: int = 0) -> bool:
    """Shape plus plausible values (HR <= 321 or 511, SpO2 <= 100 or 127): used to lock."""
    if not record_shape_ok(data, offset):
        return False
    hr = ((data[offset] & 0x03) << 7) | data[offset + 1]
    spo2 = data[offset + 2]
    return (hr <= HR_MAX_BPM or hr == HR_MISSING) and (spo2 <= 100 or spo2 == SPO2_MISSING)


@dataclass(frozen=True, slots=True)
class Nonin8Record:
    """One record: the device's numerics for one second."""

    status: Nonin8Status
    hr_raw: int  # 9 bits, 511 = no value
    spo2_raw: int  # 7 bits, 127 = no value
    status2: Nonin8Status2
    records_lost_before: int = 0

    def __post_init__(self) -> None:
        if not 0x80 <= int(self.status) <= 0xFF:
            raise CodecError(f"nonin8 record: status must be 0x80..0xff, got {int(self.status)}")
        if not 0 <= self.hr_raw <= 0x1FF:
            raise CodecError(f"nonin8 record: hr {self.hr_raw} is outside 0..511")
        if (int(self.status) & 0x03) != self.hr_raw >> 7:
            raise CodecError("nonin8 record: status bits 1..0 must be HR bits 8..7")
        if not 0 <= self.spo2_raw <= 0x7F:
            raise CodecError(f"nonin8 record: spo2 {self.spo2_raw} is outside 0..127")
        if not 0 <= int(self.status2) <= 0x7F:
            raise CodecError(f"nonin8 record: status2 {int(self.status2)} is outside 0..127")
        if self.records_lost_before < 0:
            raise CodecError(f"nonin8 record: records_lost_before {self.records_lost_before} < 0")

    @classmethod
    def from_bytes(cls, data: bytes, records_lost_before: int = 0) -> Nonin8Record:
        """Decode exactly 4 bytes; CodecError names the offset and what was wrong."""
        if len(data) != RECORD_LEN:
            raise CodecError(f"nonin8 record: expected {RECORD_LEN} bytes, got {len(data)}")
        if not data[0] & 0x80:
            raise CodecError(
                f"nonin8 record: offset 0: status bit 7 must be 1, got 0x{data[0]:02x}"
            )
        for offset in (1, 2, 3):
            if data[offset] & 0x80:
                raise CodecError(
                    f"nonin8 record: offset {offset}: bit 7 must be 0, got 0x{data[offset]:02x}"
                )
        return cls(
            Nonin8Status(data[0]),
            ((data[0] & 0x03) << 7) | data[1],
            data[2],
            Nonin8Status2(data[3]),
            records_lost_before,
        )

    def __bytes__(self) -> bytes:
        return bytes((int(self.status), self.hr_raw & 0x7F, self.spo2_raw, int(self.status2)))

    @property
    def hr_bpm(self) -> float:
        """Pulse rate, NaN for the no-value code 511."""
        return math.nan if self.hr_raw == HR_MISSING else float(self.hr_raw)

    @property
    def spo2_pct(self) -> float:
        """SpO2, NaN for the no-value code 127."""
        return math.nan if self.spo2_raw == SPO2_MISSING else float(self.spo2_raw)

    @property
    def perfusion(self) -> str:
        """'red' (LPRF), 'yellow' (MPRF) or 'green' (neither)."""
        if self.status & Nonin8Status.LPRF:
            return "red"
        if self.status & Nonin8Status.MPRF:
            return "yellow"
        return "green"

    def flags(self) -> dict[str, bool]:
        """Every named status bit as a boolean, lower-case names (for JSON)."""
        out = {n.lower(): bool(self.status & Nonin8Status[n]) for n in _STATUS_NAMES}
        out.update({n.lower(): bool(self.status2 & Nonin8Status2[n]) for n in _STATUS2_NAMES})
        return out

    def status_quality(self) -> QualityFlag:
        """What the status bytes say, plus GAP_BEFORE after lost records."""
        flags = QualityFlag.NONE
        for bit, flag in _FLAG_QUALITY:
            if self.status & bit:
                flags |= flag
        if self.status2 & Nonin8Status2.SNSA:
            flags |= QualityFlag.SENSOR_ALARM
        if self.records_lost_before:
            flags |= QualityFlag.GAP_BEFORE
        return flags

    def value_quality(self, value: float) -> QualityFlag:
        """`status_quality` plus MISSING when ``value`` is NaN."""
        flags = self.status_quality()
        return flags | QualityFlag.MISSING if math.isnan(value) else flags


class Nonin8Decoder:
    """Incremental: feed(bytes) -> list[Nonin8Record]; never raises whatever the bytes.

    Hunting: lock on two consecutive plausible records (at `flush`, one is enough when no
    byte follows it). Locked: each record is taken as soon as its 4 bytes are in; a record
    with the wrong bit-7 pattern is dropped in place when the one after it is right, else
    the lock is lost. Counters: ``frames_ok`` records, ``frames_dropped`` records estimated
    lost, ``bytes_dropped``, ``frames_rejected``, ``resyncs``. Invariant: bytes fed ==
    4 * frames_ok + bytes_dropped + pending_bytes.
    """

    def __init__(self) -> None:
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

    @property
    def pending_bytes(self) -> int:
        """Bytes held until more arrive."""
        return len(self._buf)

    @property
    def locked(self) -> bool:
        """True while records arrive where expected."""
        return self._locked

    def feed(self, data: bytes) -> list[Nonin8Record]:
        """Add bytes; return the records they complete, in order."""
        out: list[Nonin8Record] = []
        self._buf += data
        self._run(out, final=False)
        return out

    def flush(self) -> list[Nonin8Record]:
        """Accept a lone trailing record if it is plausible; keep an incomplete tail."""
        out: list[Nonin8Record] = []
        self._run(out, final=True)
        return out

    def _run(self, out: list[Nonin8Record], final: bool) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        while pos + RECORD_LEN <= n:
            if self._locked:
                if record_shape_ok(buf, pos):
                    self._accept(bytes(buf[pos : pos + RECORD_LEN]), out)
                    pos += RECORD_LEN
                    continue
                if pos + 2 * RECORD_LEN > n:
                    break
                self.frames_rejected += 1
                if record_shape_ok(buf, pos + RECORD_LEN):
                    self._drop(RECORD_LEN)
                    pos += RECORD_LEN
                    continue
                self._locked = False
                self._drop(1)
                pos += 1
                continue
            if not record_plausible(buf, pos):
                self._drop(1)
                pos += 1
                continue
            if pos + 2 * RECORD_LEN > n:
                if final:
                    self._lock()
                    continue
                break
            if record_plausible(buf, pos + RECORD_LEN):
                self._lock()
                continue
            self._drop(1)
            pos += 1
        del buf[:pos]

    def _drop(self, n: int) -> None:
        self.bytes_dropped += n
        self._gap += n

    def _lock(self) -> None:
        self._locked = True
        if self._ever_locked:
            self.resyncs += 1
        self._ever_locked = True

    def _accept(self, raw: bytes, out: list[Nonin8Record]) -> None:
        lost = (self._gap + RECORD_LEN // 2) // RECORD_LEN if self._have_prev else 0
        self._gap = 0
        self._have_prev = True
        self.frames_ok += 1
        self.frames_dropped += lost
        out.append(Nonin8Record.from_bytes(raw, lost))


def describe(data: bytes) -> dict[str, object]:
    """Decode one record or a stream into a JSON-ready dict (the latest record's values).

    Raises CodecError (one line) when ``data`` holds no record; a 4-byte input is read as
    one record and its exact fault is reported.
    """
    if len(data) == RECORD_LEN:
        records = [Nonin8Record.from_bytes(data)]
        decoder = None
    else:
        decoder = Nonin8Decoder()
        records = decoder.feed(data) + decoder.flush()
        if not records:
            raise CodecError(
                f"no valid nonin8 record in {len(data)} bytes (a record is status with bit 7 "
                "set, then HR, SpO2 and status2 with bit 7 clear)"
            )
    last = records[-1]
    warnings: list[str] = []
    for key, value, code in (
        ("spo2_pct", last.spo2_pct, SPO2_MISSING),
        ("pulse_bpm", last.hr_bpm, HR_MISSING),
    ):
        if math.isnan(value):
            warnings.append(f"{key}: the device sent {code} (no value)")
    if decoder is not None:
        if decoder.bytes_dropped:
            warnings.append(f"{decoder.bytes_dropped} byte(s) skipped while looking for records")
        if decoder.frames_dropped:
            warnings.append(f"about {decoder.frames_dropped} record(s) lost in gaps")
        if decoder.pending_bytes:
            warnings.append(f"{decoder.pending_bytes} trailing byte(s) do not make a record")
    flags = last.flags()
    for name, text in (
        ("snsd", "sensor disconnected (SNSD)"),
        ("snsa", "sensor alarm (SNSA, unusable data)"),
        ("oot", "out of track (OOT)"),
        ("artf", "artifact (ARTF)"),
        ("lprf", "red perfusion (LPRF)"),
        ("mprf", "yellow perfusion (MPRF)"),
        ("battery_critical", "battery critical"),
        ("low_battery", "low battery"),
    ):
        if flags[name]:
            warnings.append(text)
    return {
        "codec": CODEC_NAME,
        "kind": "record" if len(records) == 1 else "stream",
        "records": len(records),
        "frames_lost": 0 if decoder is None else decoder.frames_dropped,
        "bytes_skipped": 0 if decoder is None else decoder.bytes_dropped,
        "spo2_pct": None if math.isnan(last.spo2_pct) else int(last.spo2_pct),
        "pulse_bpm": None if math.isnan(last.hr_bpm) else int(last.hr_bpm),
        "pulse_series_bpm": [None if math.isnan(r.hr_bpm) else int(r.hr_bpm) for r in records],
        "spo2_series_pct": [None if math.isnan(r.spo2_pct) else int(r.spo2_pct) for r in records],
        "pleth": [],
        "status_byte": int(last.status),
        "status2_byte": int(last.status2),
        **flags,
        "smartpoint": flags["spa"],
        "perfusion": last.perfusion,
        "quality": last.value_quality(last.spo2_pct + last.hr_bpm).names(),
        "warnings": warnings,
    }
