"""OpenBCI Cyton (ADS1299, 8 channels, 250 Hz) over its USB dongle, 115200 baud 8N1.

Packet (33 bytes, one per sample)::

    0xA0 | SAMPLE (0..255, wraps) | 8 x 24-bit big-endian two's complement | 6 AUX | 0xCX

The footer's low nibble X says how to read AUX (0: accelerometer, 1: raw aux, 2: user
defined, 3/4: accelerometer byte + timestamp, 5/6: raw + timestamp). There is no checksum:
framing rests on header and footer only, so a flipped payload bit cannot be detected; lost
samples show as jumps of the sample counter. Counts become µV with the channel's PGA gain:
``scale_uv = 4.5 V / gain / (2^23 - 1) * 1e6``. Full table, commands and one packet decoded:
``docs/protocols/openbci-cyton.md``.

The decoder is numpy-vectorised: while locked it checks every whole packet in the buffer at
once; hunting it tests all positions at once for two consecutive header/footer pairs.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from drivers.errors import CodecError

CODEC_NAME: Final = "serial.openbci"
PACKET_LEN: Final = 33
HEADER: Final = 0xA0
FOOTER_BASE: Final = 0xC0  # footer is 0xC0..0xCF; the low nibble selects the AUX layout
N_CHANNELS: Final = 8
FS_HZ: Final = 250.0  # Cyton default sample rate (Cyton Data Format, "Interpreting")
BAUD: Final = 115200
VREF_V: Final = 4.5
FULL_SCALE_COUNTS: Final = (1 << 23) - 1
GAINS: Final = (1, 2, 4, 6, 8, 12, 24)  # ADS1299 PGA settings; the Cyton firmware default is 24
DEFAULT_GAIN: Final = 24
# ADS1299 output clips at +FS (0x7FFFFF) / -FS (0x800000). A value within 1 % of full scale
# means the input sits at the rail (lead off with bias drive, or DC offset beyond range).
RAIL_COUNTS: Final = int(0.99 * FULL_SCALE_COUNTS)
ACCEL_G_PER_COUNT: Final = 0.002 / 16  # LIS3DH at +/-4 g (Cyton Data Format)
COUNTER_MODULUS: Final = 256

# Host commands (Cyton SDK).
CMD_START: Final = b"b"
CMD_STOP: Final = b"s"
CMD_RESET: Final = b"v"
CMD_DEFAULT_CHANNELS: Final = b"d"
_GAIN_CODES: Final = {g: str(i) for i, g in enumerate(GAINS)}
_CHANNEL_CODES: Final = "12345678QWERTYUI"  # channels 1..16 (9..16 on a Daisy)


class InputType(enum.IntEnum):
    """ADS1299 channel input (INPUT_TYPE_SET in the 'x' command)."""

    NORMAL = 0
    SHORTED = 1
    BIAS_MEAS = 2
    MVDD = 3
    TEMP = 4
    TESTSIG = 5
    BIAS_DRP = 6
    BIAS_DRN = 7


class AuxKind(enum.Enum):
    """How the 6 AUX bytes are read, from the footer's low nibble."""

    ACCEL = "accel"  # 0xC0: AX1 AX0 AY1 AY0 AZ1 AZ0
    RAW = "raw"  # 0xC1
    USER = "user"  # 0xC2
    ACCEL_TIMESTAMP_SET = "accel_timestamp_set"  # 0xC3: AC AV T3..T0, after '<'
    ACCEL_TIMESTAMP = "accel_timestamp"  # 0xC4
    RAW_TIMESTAMP_SET = "raw_timestamp_set"  # 0xC5: UDF UDF T3..T0, after '<'
    RAW_TIMESTAMP = "raw_timestamp"  # 0xC6
    UNKNOWN = "unknown"  # 0xC7..0xCF: kept raw


_AUX_KINDS: Final = tuple(AuxKind)[:7]


def aux_kind(footer: int) -> AuxKind:
    """The AUX layout a footer byte announces (unknown nibbles are kept, not raised)."""
    nibble = footer & 0x0F
    return _AUX_KINDS[nibble] if nibble < len(_AUX_KINDS) else AuxKind.UNKNOWN


def scale_uv(gain: int) -> float:
    """µV per count at a PGA gain (ADS1299 datasheet, via the Cyton Data Format page)."""
    if gain not in GAINS:
        raise CodecError(f"openbci: gain {gain} is not an ADS1299 PGA gain {GAINS}")
    return VREF_V / gain / FULL_SCALE_COUNTS * 1e6


def channel_settings(
    channel: int,
    *,
    power_down: bool = False,
    gain: int = DEFAULT_GAIN,
    input_type: InputType = InputType.NORMAL,
    bias: bool = True,
    srb2: bool = True,
    srb1: bool = False,
) -> bytes:
    """The 'x CHANNEL POWER GAIN INPUT BIAS SRB2 SRB1 X' command (defaults: x1060110X)."""
    if not 1 <= channel <= len(_CHANNEL_CODES):
        raise CodecError(f"openbci: channel {channel} is outside 1..16")
    if gain not in _GAIN_CODES:
        raise CodecError(f"openbci: gain {gain} is not an ADS1299 PGA gain {GAINS}")
    fields = (
        _CHANNEL_CODES[channel - 1],
        str(int(power_down)),
        _GAIN_CODES[gain],
        str(int(input_type)),
        str(int(bias)),
        str(int(srb2)),
        str(int(srb1)),
    )
    return ("x" + "".join(fields) + "X").encode("ascii")


def counts_of(packets: NDArray[np.uint8]) -> NDArray[np.int32]:
    """Channel counts of packets shaped (n, 33): (n, 8) sign-extended 24-bit values."""
    n = packets.shape[0]
    # Each 3-byte value goes into the top of a big-endian int32; an arithmetic shift right by
    # 8 then sign-extends it: three vector operations for all channels of all packets.
    wide = np.zeros((n, N_CHANNELS, 4), np.uint8)
    wide[:, :, :3] = packets[:, 2:26].reshape(n, N_CHANNELS, 3)
    out: NDArray[np.int32] = (wide.view(">i4").reshape(n, N_CHANNELS) >> 8).astype(np.int32)
    return out


@functools.lru_cache(maxsize=16)
def _scales(gains: tuple[int, ...]) -> NDArray[np.float64]:
    return np.array([scale_uv(g) for g in gains], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class CytonPacket:
    """One 33-byte packet."""

    sample_number: int
    counts: tuple[int, ...]  # 8 channels, -2^23..2^23-1
    aux: bytes  # 6 bytes, read by `aux_kind(footer)`
    footer: int = FOOTER_BASE

    def __post_init__(self) -> None:
        if not 0 <= self.sample_number <= 0xFF:
            raise CodecError(f"openbci packet: sample number {self.sample_number} outside 0..255")
        if len(self.counts) != N_CHANNELS:
            raise CodecError(f"openbci packet: expected 8 channel counts, got {len(self.counts)}")
        for i, c in enumerate(self.counts):
            if not -(1 << 23) <= c < (1 << 23):
                raise CodecError(f"openbci packet: channel {i + 1} count {c} is not 24-bit")
        if len(self.aux) != 6:
            raise CodecError(f"openbci packet: expected 6 aux bytes, got {len(self.aux)}")
        if self.footer & 0xF0 != FOOTER_BASE:
            raise CodecError(f"openbci packet: footer 0x{self.footer:02x} is not 0xC0..0xCF")

    @classmethod
    def from_bytes(cls, data: bytes) -> CytonPacket:
        """Decode exactly 33 bytes; CodecError names the offset and what was wrong."""
        if len(data) != PACKET_LEN:
            raise CodecError(f"openbci packet: expected {PACKET_LEN} bytes, got {len(data)}")
        if data[0] != HEADER:
            raise CodecError(f"openbci packet: byte 0 is 0x{data[0]:02x}, expected header 0xa0")
        if data[32] & 0xF0 != FOOTER_BASE:
            raise CodecError(
                f"openbci packet: byte 32 is 0x{data[32]:02x}, expected a footer 0xc0..0xcf"
            )
        arr = np.frombuffer(data, dtype=np.uint8).reshape(1, PACKET_LEN)
        counts = tuple(int(c) for c in counts_of(arr)[0])
        return cls(data[1], counts, bytes(data[26:32]), data[32])

    def __bytes__(self) -> bytes:
        body = b"".join((c & 0xFFFFFF).to_bytes(3, "big") for c in self.counts)
        return bytes([HEADER, self.sample_number]) + body + self.aux + bytes([self.footer])

    @property
    def aux_kind(self) -> AuxKind:
        """How to read `aux`."""
        return aux_kind(self.footer)

    def aux_fields(self) -> dict[str, object]:
        """AUX decoded per the footer: accelerometer counts/g, timestamp ms, or raw bytes."""
        kind = self.aux_kind
        a = self.aux
        out: dict[str, object] = {"kind": kind.value}
        if kind is AuxKind.ACCEL:
            xyz = [int.from_bytes(a[i : i + 2], "big", signed=True) for i in (0, 2, 4)]
            out["accel_counts"] = xyz
            out["accel_g"] = [round(v * ACCEL_G_PER_COUNT, 6) for v in xyz]
        elif kind in (AuxKind.ACCEL_TIMESTAMP, AuxKind.ACCEL_TIMESTAMP_SET):
            out["accel_code"] = chr(a[0]) if 32 <= a[0] < 127 else a[0]
            out["accel_byte"] = a[1]
            out["timestamp_ms"] = int.from_bytes(a[2:6], "big")
        elif kind in (AuxKind.RAW_TIMESTAMP, AuxKind.RAW_TIMESTAMP_SET):
            out["raw"] = a[0:2].hex()
            out["timestamp_ms"] = int.from_bytes(a[2:6], "big")
        else:
            out["raw"] = a.hex()
        return out


@dataclass(frozen=True, slots=True)
class CytonSamples:
    """Packets decoded by one `feed`, as arrays (n = number of packets)."""

    sample_number: NDArray[np.int64]  # (n,) 0..255
    counts: NDArray[np.int32]  # (n, 8)
    aux: NDArray[np.uint8]  # (n, 6)
    footer: NDArray[np.uint8]  # (n,)
    lost_before: NDArray[np.int64]  # (n,) samples lost just before each packet

    @classmethod
    def empty(cls) -> CytonSamples:
        """No packets."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros((0, N_CHANNELS), np.int32),
            np.zeros((0, 6), np.uint8),
            np.zeros(0, np.uint8),
            np.zeros(0, np.int64),
        )

    @property
    def n(self) -> int:
        """Number of packets."""
        return int(self.sample_number.shape[0])

    def uv(self, gains: tuple[int, ...] = (DEFAULT_GAIN,) * N_CHANNELS) -> NDArray[np.float64]:
        """Counts in µV, (n, 8), with one PGA gain per channel."""
        return self.counts * _scales(tuple(gains))

    def saturated(self) -> NDArray[np.bool_]:
        """(n, 8): True where a channel sits at the ADC rail (|counts| >= RAIL_COUNTS)."""
        return np.abs(self.counts) >= RAIL_COUNTS

    def packet(self, i: int) -> CytonPacket:
        """Packet i as a `CytonPacket`."""
        return CytonPacket(
            int(self.sample_number[i]),
            tuple(int(c) for c in self.counts[i]),
            bytes(self.aux[i]),
            int(self.footer[i]),
        )


def _concat(parts: list[CytonSamples]) -> CytonSamples:
    if not parts:
        return CytonSamples.empty()
    if len(parts) == 1:
        return parts[0]
    return CytonSamples(
        np.concatenate([p.sample_number for p in parts]),
        np.concatenate([p.counts for p in parts]),
        np.concatenate([p.aux for p in parts]),
        np.concatenate([p.footer for p in parts]),
        np.concatenate([p.lost_before for p in parts]),
    )


_FOOTER_CLASS: Final = bytes(FOOTER_BASE if b & 0xF0 == FOOTER_BASE else 0 for b in range(256))
_RAMP: Final = bytes(range(256)) * 8  # sample numbers in order: a whole feed compared at once


def _valid_at(arr: NDArray[np.uint8], q: int) -> bool:
    return bool(arr[q] == HEADER and arr[q + PACKET_LEN - 1] & 0xF0 == FOOTER_BASE)


class CytonDecoder:
    """Incremental: feed(bytes) -> CytonSamples; resynchronises after garbage, never raises.

    Locked: a packet is expected every 33 bytes; one bad packet followed by a good one is
    dropped in place (lock kept), otherwise the lock is lost. Hunting: lock on two
    consecutive header/footer pairs (chance on random bytes about 2^-24 per position);
    `flush` accepts a single valid packet. Lost samples: the counter jump modulo 256; after
    skipped bytes the nearest count that fits both the counter and bytes/33 is taken.

    Counters: ``frames_ok`` packets decoded; ``frames_dropped`` samples lost (sum of
    ``lost_before``); ``bytes_dropped`` bytes skipped; ``frames_rejected`` bad packets where
    one was expected; ``resyncs``. Invariant: bytes fed == 33 * frames_ok + bytes_dropped +
    pending_bytes.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._locked = False
        self._ever_locked = False
        self._gap = 0  # bytes skipped since the last accepted packet
        self._last_sn: int | None = None
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
        """True while packets arrive where expected."""
        return self._locked

    def feed(self, data: bytes) -> CytonSamples:
        """Add bytes; return the packets they complete, in order."""
        return self._run(self._buf + bytes(data), final=False)

    def flush(self) -> CytonSamples:
        """Decode what can still be decoded (a lone valid packet is accepted)."""
        return self._run(self._buf, final=True)

    def _drop(self, n: int) -> None:
        self.bytes_dropped += n
        self._gap += n

    def _lock(self) -> None:
        self._locked = True
        if self._ever_locked:
            self.resyncs += 1
        self._ever_locked = True

    def _run(self, buf: bytes, final: bool) -> CytonSamples:
        arr = np.frombuffer(buf, dtype=np.uint8)
        n = len(buf)
        pos = 0
        parts: list[CytonSamples] = []
        while True:
            if self._locked:
                m = (n - pos) // PACKET_LEN
                if m == 0:
                    break
                end = pos + m * PACKET_LEN
                pk = arr[pos:end].reshape(m, PACKET_LEN)
                # Header and footer columns checked as bytes (C speed, no numpy call overhead).
                heads = buf[pos:end:PACKET_LEN]
                foots = buf[pos + PACKET_LEN - 1 : end : PACKET_LEN].translate(_FOOTER_CLASS)
                if heads.count(HEADER) == m and foots.count(FOOTER_BASE) == m:
                    k = m
                else:
                    k = next(i for i in range(m) if heads[i] != HEADER or foots[i] != FOOTER_BASE)
                if k:
                    parts.append(self._accept(pk[:k]))
                    pos += k * PACKET_LEN
                if k == m:
                    break
                # A bad packet at pos: drop it in place if the next one is good.
                if pos + 2 * PACKET_LEN > n and not final:
                    break
                self.frames_rejected += 1
                if pos + 2 * PACKET_LEN <= n and _valid_at(arr, pos + PACKET_LEN):
                    self._drop(PACKET_LEN)
                    pos += PACKET_LEN
                    continue
                self._locked = False
                self._drop(1)
                pos += 1
                continue
            seg = arr[pos:]
            f = PACKET_LEN - 1
            if final:  # no second packet can follow: one valid packet is enough
                span = n - pos - PACKET_LEN + 1
                if span <= 0:
                    break
                hits = np.flatnonzero(
                    (seg[:span] == HEADER) & ((seg[f : f + span] & 0xF0) == FOOTER_BASE)
                )
            else:
                span = n - pos - 2 * PACKET_LEN + 1
                if span <= 0:
                    break
                hits = np.flatnonzero(
                    (seg[:span] == HEADER)
                    & ((seg[f : f + span] & 0xF0) == FOOTER_BASE)
                    & (seg[PACKET_LEN : PACKET_LEN + span] == HEADER)
                    & ((seg[f + PACKET_LEN : f + PACKET_LEN + span] & 0xF0) == FOOTER_BASE)
                )
            if hits.size == 0:
                self._drop(span)
                pos += span
                continue
            q = int(hits[0])
            self._drop(q)
            pos += q
            self._lock()
        self._buf = buf[pos:]
        return _concat(parts)

    def _accept(self, pk: NDArray[np.uint8]) -> CytonSamples:
        m = pk.shape[0]
        sn8 = pk[:, 1]
        first = int(sn8[0])
        last = self._last_sn
        if (
            last is not None
            and self._gap == 0
            and m <= len(_RAMP) - 256
            and (sn8.tobytes() == _RAMP[(last + 1) % 256 : (last + 1) % 256 + m])
        ):
            lost = np.zeros(m, np.int64)  # the common case: no sample lost
        else:
            prev = np.empty(m, np.uint8)
            prev[0] = (first - 1 if last is None else last) % 256
            prev[1:] = sn8[:-1]
            lost = (sn8 - prev - np.uint8(1)).astype(np.int64)  # uint8 arithmetic wraps mod 256
            if self._gap and last is not None:
                fits = int(lost[0])
                estimate = round(self._gap / PACKET_LEN)
                lost[0] = fits + COUNTER_MODULUS * max(
                    0, round((estimate - fits) / COUNTER_MODULUS)
                )
            self.frames_dropped += int(lost.sum())
        self._gap = 0
        self._last_sn = int(sn8[-1])
        self.frames_ok += m
        return CytonSamples(sn8.astype(np.int64), counts_of(pk), pk[:, 26:32], pk[:, 32], lost)


def describe(data: bytes) -> dict[str, object]:
    """Decode one packet or a stream into a JSON-ready dict (last packet's values, gain 24).

    Raises CodecError (one line) when ``data`` holds no valid packet; a 33-byte input is
    read as one packet and its exact fault is reported.
    """
    if len(data) == PACKET_LEN:
        samples = None
        packet = CytonPacket.from_bytes(data)
        packets, lost, skipped, pending = 1, 0, 0, 0
        saturated_any = [abs(c) >= RAIL_COUNTS for c in packet.counts]
    else:
        decoder = CytonDecoder()
        samples = _concat([decoder.feed(data), decoder.flush()])
        if samples.n == 0:
            raise CodecError(
                f"no valid openbci packet in {len(data)} bytes (a packet is a0, sample "
                "number, 8 x 3 channel bytes, 6 aux bytes, footer c0..cf: 33 bytes)"
            )
        packet = samples.packet(samples.n - 1)
        packets, lost = samples.n, decoder.frames_dropped
        skipped, pending = decoder.bytes_dropped, decoder.pending_bytes
        saturated_any = np.asarray(samples.saturated().any(axis=0)).tolist()
    scale = scale_uv(DEFAULT_GAIN)
    warnings: list[str] = []
    sat = [i + 1 for i, s in enumerate(saturated_any) if s]
    if sat:
        warnings.append(
            "channel(s) " + ", ".join(map(str, sat)) + " at the ADC rail (saturated or lead off)"
        )
    if lost:
        warnings.append(f"{lost} sample(s) lost (sample counter jumps)")
    if skipped:
        warnings.append(f"{skipped} byte(s) skipped while looking for packets")
    if pending:
        warnings.append(f"{pending} trailing byte(s) do not make a packet")
    if packet.aux_kind is AuxKind.UNKNOWN:
        warnings.append(f"footer 0x{packet.footer:02x}: AUX layout not documented, kept raw")
    result: dict[str, object] = {
        "codec": CODEC_NAME,
        "kind": "packet" if samples is None else "stream",
        "packets": packets,
        "samples_lost": lost,
        "bytes_skipped": skipped,
        "sample_number": packet.sample_number,
        "channel_counts": list(packet.counts),
        "channel_uv": [round(c * scale, 4) for c in packet.counts],
        "gain": DEFAULT_GAIN,
        "scale_uv_per_count": round(scale, 9),
        "footer": f"0x{packet.footer:02x}",
        "aux": packet.aux_fields(),
        "saturated_channels": sat,
        "warnings": warnings,
    }
    if samples is not None:
        result["sample_numbers"] = [int(v) for v in samples.sample_number]
    return result
