"""Helserom spirometer serial protocol: an SFM3300-class flow sensor behind a USB serial bridge.

No public standard exists for this, so it is defined here and in
``docs/protocols/spiro-sfm3300.md``. 115200 baud 8N1, 100 samples/s in frames of N samples::

    A5 5A | N | SEQ (u16 BE) | STATUS | N x (RAW MSB, RAW LSB, SENSOR CRC-8) | CRC-16 (BE)

- SEQ is the index of the frame's first sample modulo 65536: a gap is exact in samples.
- RAW is the sensor's 16-bit reading passed through untouched with the CRC-8 the sensor sent
  (Sensirion: polynomial 0x31, init 0x00, over the two bytes), so the host checks the sensor's
  own integrity end to end. Flow (SFM3300-D, air): slm = (RAW - 32768) / 120; L/s = slm / 60.
- CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) covers N .. the last sample byte.

The codec only yields flow in L/s with sample indices; spirometry maths lives elsewhere.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Final

from drivers.errors import CodecError

CODEC_NAME: Final = "serial.spiro"
SYNC: Final = b"\xa5\x5a"
HEADER_LEN: Final = 6  # sync (2), N, SEQ (2), STATUS
CRC_LEN: Final = 2
SAMPLE_LEN: Final = 3
MAX_SAMPLES: Final = 50  # per frame (0.5 s at 100 Hz): bounds the frame and the buffer
SAMPLES_PER_FRAME: Final = 10  # what the bridge sends: 10 frames/s
FS_HZ: Final = 100.0
BAUD: Final = 115200
SEQ_MODULUS: Final = 1 << 16
FLOW_OFFSET: Final = 32768  # SFM3300-D datasheet: offset flow
FLOW_SCALE_PER_SLM: Final = 120.0  # SFM3300-D datasheet: scale factor flow, air/N2/O2
RANGE_SLM: Final = 250.0  # SFM3300-D calibrated range is +/-250 slm
_CRC8_POLY: Final = 0x31
_CRC16_POLY: Final = 0x1021


def frame_len(n_samples: int) -> int:
    """Bytes in a frame carrying ``n_samples``."""
    return HEADER_LEN + SAMPLE_LEN * n_samples + CRC_LEN


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ _CRC8_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _CRC16_POLY) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC8: Final = _crc8_table()
_CRC16: Final = _crc16_table()


def crc8_sensirion(data: bytes | bytearray) -> int:
    """Sensirion flow-sensor CRC-8: x^8 + x^5 + x^4 + 1 (0x31), init 0x00, no reflection."""
    crc = 0
    for b in data:
        crc = _CRC8[crc ^ b]
    return crc


def crc16_ccitt(data: bytes | bytearray) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ b]
    return crc


class SpiroStatus(enum.IntFlag):
    """STATUS byte set by the bridge; bits 3..7 are reserved (kept, not raised)."""

    NONE = 0
    NOT_READY = 0x01  # sensor not measuring yet (after power-up or reset): samples invalid
    SENSOR_CRC_ERROR = 0x02  # the bridge saw a sensor CRC mismatch in this frame
    READ_ERROR = 0x04  # the bridge could not read the sensor (I2C NACK): samples invalid


def raw_to_lps(raw: int) -> float:
    """Sensor reading to airway flow in L/s (expiration positive)."""
    return (raw - FLOW_OFFSET) / FLOW_SCALE_PER_SLM / 60.0


@dataclass(frozen=True, slots=True)
class SpiroFrame:
    """One frame: ``raw[k]`` is sample ``sequence + k`` (mod 65536)."""

    sequence: int
    status: SpiroStatus
    raw: tuple[int, ...]
    sensor_crc: tuple[int, ...]
    samples_lost_before: int = field(default=0, compare=False)  # set by the decoder

    def __post_init__(self) -> None:
        if not 0 <= self.sequence < SEQ_MODULUS:
            raise CodecError(f"spiro frame: sequence {self.sequence} outside 0..65535")
        if not 0 <= int(self.status) <= 0xFF:
            raise CodecError(f"spiro frame: status {int(self.status)} outside 0..255")
        if not 1 <= len(self.raw) <= MAX_SAMPLES:
            raise CodecError(f"spiro frame: {len(self.raw)} samples, expected 1..{MAX_SAMPLES}")
        if len(self.sensor_crc) != len(self.raw):
            raise CodecError("spiro frame: one sensor CRC per sample expected")
        for name, values, top in (("raw", self.raw, 0xFFFF), ("sensor_crc", self.sensor_crc, 0xFF)):
            for v in values:
                if not 0 <= v <= top:
                    raise CodecError(f"spiro frame: {name} value {v} outside 0..{top}")
        object.__setattr__(self, "status", SpiroStatus(int(self.status)))

    @classmethod
    def from_bytes(cls, data: bytes) -> SpiroFrame:
        """Decode exactly one frame; CodecError names the offset and what was wrong."""
        if len(data) < HEADER_LEN + SAMPLE_LEN + CRC_LEN:
            raise CodecError(f"spiro frame: {len(data)} bytes is shorter than the minimum 11")
        if data[:2] != SYNC:
            raise CodecError(f"spiro frame: bytes 0-1 are {data[:2].hex()}, expected sync a55a")
        n = data[2]
        if not 1 <= n <= MAX_SAMPLES:
            raise CodecError(f"spiro frame: byte 2 (N) is {n}, expected 1..{MAX_SAMPLES}")
        if len(data) != frame_len(n):
            raise CodecError(f"spiro frame: N={n} needs {frame_len(n)} bytes, got {len(data)}")
        body_end = len(data) - CRC_LEN
        sent = int.from_bytes(data[body_end:], "big")
        computed = crc16_ccitt(data[2:body_end])
        if sent != computed:
            raise CodecError(
                f"spiro frame: CRC-16 at offset {body_end} is 0x{sent:04x}, "
                f"computed 0x{computed:04x}"
            )
        return cls._parse(data)

    @classmethod
    def _parse(cls, data: bytes) -> SpiroFrame:
        n = data[2]
        samples = data[HEADER_LEN : HEADER_LEN + SAMPLE_LEN * n]
        return cls(
            int.from_bytes(data[3:5], "big"),
            SpiroStatus(data[5]),
            tuple((samples[i] << 8) | samples[i + 1] for i in range(0, len(samples), 3)),
            tuple(samples[2::3]),
        )

    def __bytes__(self) -> bytes:
        body = bytearray([len(self.raw)])
        body += self.sequence.to_bytes(2, "big")
        body.append(int(self.status))
        for raw, crc in zip(self.raw, self.sensor_crc, strict=True):
            body += raw.to_bytes(2, "big")
            body.append(crc)
        return SYNC + bytes(body) + crc16_ccitt(bytes(body)).to_bytes(2, "big")

    @property
    def n_samples(self) -> int:
        """Samples in this frame."""
        return len(self.raw)

    def sample_crc_ok(self) -> tuple[bool, ...]:
        """Per sample: the sensor's CRC-8 matches its two bytes."""
        return tuple(
            crc8_sensirion(r.to_bytes(2, "big")) == c
            for r, c in zip(self.raw, self.sensor_crc, strict=True)
        )

    def flow_lps(self) -> tuple[float, ...]:
        """Flow per sample in L/s; NaN where the sample is invalid (status or sensor CRC)."""
        if self.status & (SpiroStatus.NOT_READY | SpiroStatus.READ_ERROR):
            return (math.nan,) * len(self.raw)
        return tuple(
            raw_to_lps(r) if ok else math.nan
            for r, ok in zip(self.raw, self.sample_crc_ok(), strict=True)
        )

    def over_range(self) -> int:
        """Samples beyond the sensor's calibrated +/-250 slm."""
        limit = RANGE_SLM * FLOW_SCALE_PER_SLM
        return sum(1 for r in self.raw if abs(r - FLOW_OFFSET) > limit)


class SpiroDecoder:
    """Incremental: feed(bytes) -> list[SpiroFrame]; resynchronises on the sync word and
    CRC-16, never raises. Frame-level CRC failures are counted and skipped byte by byte.

    Counters: ``frames_ok``; ``frames_dropped`` frames estimated lost (samples lost / N);
    ``samples_dropped`` samples lost (sum of ``samples_lost_before``); ``bytes_dropped``;
    ``frames_rejected`` (bad N or CRC-16); ``sensor_crc_errors`` samples failing the sensor's
    CRC-8. Invariant: bytes fed == bytes in frames_ok frames + bytes_dropped + pending_bytes.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._gap = 0
        self._next_seq: int | None = None
        self.frames_ok = 0
        self.frames_dropped = 0
        self.samples_dropped = 0
        self.bytes_dropped = 0
        self.bytes_ok = 0
        self.frames_rejected = 0
        self.sensor_crc_errors = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes held until more arrive."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[SpiroFrame]:
        """Add bytes; return the frames they complete."""
        self._buf += data
        buf = self._buf
        out: list[SpiroFrame] = []
        pos = 0
        n = len(buf)
        while True:
            q = buf.find(SYNC, pos)
            if q < 0:
                keep = 1 if n > pos and buf[n - 1] == SYNC[0] else 0
                self._drop(n - keep - pos)
                pos = n - keep
                break
            self._drop(q - pos)
            pos = q
            if pos + 3 > n:
                break
            count = buf[pos + 2]
            if not 1 <= count <= MAX_SAMPLES:
                self.frames_rejected += 1
                self._drop(1)
                pos += 1
                continue
            size = frame_len(count)
            if pos + size > n:
                break
            end = pos + size - CRC_LEN
            if int.from_bytes(buf[end : end + 2], "big") != crc16_ccitt(buf[pos + 2 : end]):
                self.frames_rejected += 1
                self._drop(1)
                pos += 1
                continue
            out.append(self._accept(SpiroFrame._parse(bytes(buf[pos : pos + size]))))
            self.bytes_ok += size
            pos += size
        del buf[:pos]
        return out

    def _drop(self, n: int) -> None:
        self.bytes_dropped += n
        self._gap += n

    def _accept(self, frame: SpiroFrame) -> SpiroFrame:
        lost = 0
        if self._next_seq is not None:
            lost = (frame.sequence - self._next_seq) % SEQ_MODULUS
        self._gap = 0
        self._next_seq = (frame.sequence + frame.n_samples) % SEQ_MODULUS
        self.frames_ok += 1
        self.samples_dropped += lost
        self.frames_dropped += round(lost / frame.n_samples)
        self.sensor_crc_errors += sum(1 for ok in frame.sample_crc_ok() if not ok)
        if lost:
            object.__setattr__(frame, "samples_lost_before", lost)
        return frame


def describe(data: bytes) -> dict[str, object]:
    """Decode one frame or a stream into a JSON-ready dict (``flow_lps`` None = invalid).

    Raises CodecError (one line) when ``data`` holds no valid frame; input that is exactly
    one frame long and starts with the sync word is read as one frame (exact fault).
    """
    if len(data) >= 3 and data[:2] == SYNC and len(data) == frame_len(data[2]):
        frames = [SpiroFrame.from_bytes(data)]
        decoder: SpiroDecoder | None = None
    else:
        decoder = SpiroDecoder()
        frames = decoder.feed(data)
        if not frames:
            raise CodecError(
                f"no valid spiro frame in {len(data)} bytes (a frame is a5 5a, N, SEQ u16, "
                "STATUS, N x (raw u16, CRC-8), CRC-16/CCITT-FALSE)"
            )
    flows = [v for f in frames for v in f.flow_lps()]
    status = SpiroStatus.NONE
    for f in frames:
        status |= f.status
    crc_bad = sum(1 for f in frames for ok in f.sample_crc_ok() if not ok)
    over = sum(f.over_range() for f in frames)
    warnings: list[str] = []
    for bit, text in (
        (SpiroStatus.NOT_READY, "sensor not ready (samples invalid)"),
        (SpiroStatus.READ_ERROR, "bridge could not read the sensor (samples invalid)"),
        (SpiroStatus.SENSOR_CRC_ERROR, "bridge reported a sensor CRC error"),
    ):
        count = sum(1 for f in frames if f.status & bit)
        if count:
            warnings.append(f"{text} in {count} of {len(frames)} frame(s)")
    if crc_bad:
        warnings.append(f"{crc_bad} sample(s) fail the sensor CRC-8 (flow set to null)")
    if over:
        warnings.append(f"{over} sample(s) beyond the sensor's +/-250 slm range")
    if decoder is not None:
        if decoder.samples_dropped:
            warnings.append(f"{decoder.samples_dropped} sample(s) lost (sequence gaps)")
        if decoder.bytes_dropped:
            warnings.append(f"{decoder.bytes_dropped} byte(s) skipped while looking for frames")
        if decoder.frames_rejected:
            warnings.append(f"{decoder.frames_rejected} candidate frame(s) failed N or CRC-16")
        if decoder.pending_bytes:
            warnings.append(f"{decoder.pending_bytes} trailing byte(s) do not make a frame")
    return {
        "codec": CODEC_NAME,
        "kind": "frame" if len(frames) == 1 and decoder is None else "stream",
        "frames": len(frames),
        "sequence": frames[0].sequence,
        "sequences": [f.sequence for f in frames],
        "status": [str(b.name) for b in SpiroStatus if b and status & b],
        "status_byte": int(status),
        "raw": [r for f in frames for r in f.raw],
        "flow_lps": [None if math.isnan(v) else round(v, 6) for v in flows],
        "fs_hz": FS_HZ,
        "samples_lost": 0 if decoder is None else decoder.samples_dropped,
        "bytes_skipped": 0 if decoder is None else decoder.bytes_dropped,
        "warnings": warnings,
    }
