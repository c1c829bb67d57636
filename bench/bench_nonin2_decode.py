"""Nonin #2 decoder throughput: a 30-minute recording, clean and with faults.

Peer in the same run: a minimal aligned parser (checksum check per 5-byte frame with
struct.iter_unpack, no resync, no packet assembly) — the floor any pure-Python decoder
pays. The stream is made by hwsim's independent encoder.
"""

from __future__ import annotations

import random
import struct
import time

import numpy as np
from hwsim.nonin2 import Nonin2Packet, encode_packet
from hwsim.physiology import synth_pleth

from drivers.codecs.nonin2 import Nonin2Decoder

MINUTES = 30
PACKETS = MINUTES * 60 * 3  # 3 packets per second


def make_stream() -> bytes:
    pleth = synth_pleth(MINUTES * 60, hr_bpm=72, seed=1)
    samples = np.clip(np.asarray(pleth, dtype=np.float64), 0, 255).astype(np.uint8)
    chunks = []
    for i in range(PACKETS):
        block = bytes(samples[i * 25 : (i + 1) * 25])
        chunks.append(encode_packet(Nonin2Packet.steady(block, hr_bpm=72, spo2_pct=97)))
    return b"".join(chunks)


def with_faults(stream: bytes, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    out = bytearray(stream)
    for _ in range(200):  # 200 bit flips and 200 garbage bursts
        pos = rng.randrange(len(out))
        out[pos] ^= 1 << rng.randrange(8)
        at = rng.randrange(len(out))
        out[at:at] = bytes(rng.randrange(2, 256) for _ in range(rng.randrange(1, 40)))
    return bytes(out)


def peer_aligned(stream: bytes) -> int:
    ok = 0
    for a, b, c, d, e in struct.iter_unpack("5B", stream[: len(stream) // 5 * 5]):
        if a == 1 and b & 0x80 and (a + b + c + d) & 0xFF == e:
            ok += 1
    return ok


def ours(stream: bytes, chunk: int) -> int:
    decoder = Nonin2Decoder()
    for i in range(0, len(stream), chunk):
        decoder.feed(stream[i : i + chunk])
    decoder.flush()
    return decoder.frames_ok


def timed(fn: object, *args: object, repeat: int = 3) -> tuple[float, int]:
    best, result = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    clean = make_stream()
    faulty = with_faults(clean)
    frames = PACKETS * 25
    print(f"nonin2 decode: {MINUTES} min recording, {frames} frames, {len(clean)} bytes")
    peer_s, peer_ok = timed(peer_aligned, clean)
    print(
        f"  peer (aligned, checksum only)     {peer_s * 1000:8.1f} ms  {frames / peer_s:12.0f}"
        f" frames/s  ({peer_ok} ok)"
    )
    for label, stream, chunk in (
        ("ours, clean, one feed", clean, len(clean)),
        ("ours, clean, 64-byte reads", clean, 64),
        ("ours, 200 flips + 200 garbage", faulty, 64),
    ):
        s, ok = timed(ours, stream, chunk)
        print(
            f"  {label:33s} {s * 1000:8.1f} ms  {frames / s:12.0f} frames/s  ({ok} ok)"
            f"  ratio to peer {s / peer_s:5.2f}x  real-time factor {MINUTES * 60 / s:8.0f}x"
        )


if __name__ == "__main__":
    main()
