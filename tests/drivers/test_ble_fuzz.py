"""Seeded fuzz of every Bluetooth LE codec: mutated vectors and random bytes give a result or a
one-line CodecError, never another exception, and every result is JSON-ready."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.codecs import CODECS, ble_racp
from drivers.codecs.ble_bp import BloodPressureMeasurement, decode_bp_feature
from drivers.codecs.ble_plx import PlxFeatures
from drivers.codecs.ble_quirks import Quirk
from drivers.codecs.ble_types import CurrentTime
from drivers.codecs.ble_weight import WeightMeasurement, WeightScaleFeature
from drivers.codecs.polar_pmd import PmdRequest, PmdResponse, supported_types
from drivers.errors import CodecError

VECTORS = Path(__file__).parents[1] / "vectors" / "ble"


def _seeds() -> dict[str, list[bytes]]:
    by_codec: dict[str, list[bytes]] = {}
    for path in sorted(VECTORS.glob("*.hex")):
        lines = path.read_text().splitlines()
        codec = lines[1].removeprefix("# codec: ").strip()
        data = bytes.fromhex(" ".join(line.split("#", 1)[0] for line in lines))
        by_codec.setdefault(codec, []).append(data)
    return by_codec


SEEDS = _seeds()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        at = rng.randrange(len(out) + 1)
        if kind < 0.35 and out:  # flip a bit (often in the flags byte)
            i = 0 if rng.random() < 0.3 else rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif kind < 0.6:  # cut the end
            del out[rng.randrange(len(out) + 1) :]
        elif kind < 0.8:  # insert random bytes
            out[at:at] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8)))
        elif out:  # overwrite a byte with a special-looking one
            out[rng.randrange(len(out))] = rng.choice((0x00, 0x07, 0x08, 0x7F, 0x80, 0xFF))
    return bytes(out)


def _cases(rng: random.Random, seeds: list[bytes], n: int) -> list[bytes]:
    cases = []
    for i in range(n):
        if i % 8 == 0:
            cases.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))))
        else:
            cases.append(_mutate(rng, rng.choice(seeds)))
    return cases


@pytest.fixture(scope="module")
def seed() -> int:
    value = int(os.environ.get("HELSEROM_FUZZ_SEED", random.randrange(2**32)))
    print(f"ble fuzz seed: {value} (replay with HELSEROM_FUZZ_SEED={value})")
    return value


@pytest.mark.parametrize("codec", sorted(SEEDS))
def test_describe_never_raises_anything_but_codec_error(codec: str, seed: int) -> None:
    rng = random.Random(f"{seed}-{codec}")
    ok = failed = 0
    for case, data in enumerate(_cases(rng, SEEDS[codec], 400)):
        ctx = f"seed {seed} codec {codec} case {case} data {data.hex()}"
        try:
            result = CODECS[codec](data)
        except CodecError as exc:
            assert "\n" not in str(exc), ctx
            assert str(exc).startswith(codec.split(".", maxsplit=1)[0]), ctx
            failed += 1
            continue
        ok += 1
        json.dumps(result, allow_nan=False)
        assert isinstance(result["warnings"], list), ctx
    assert ok > 0 and failed > 0, f"seed {seed}: the fuzz should hit both outcomes"


PARSERS: list[tuple[str, Callable[[bytes], object]]] = [
    ("bpm-quirk", lambda b: BloodPressureMeasurement.from_bytes(b, Quirk(0xFFFF))),
    ("bp-feature", decode_bp_feature),
    ("plx-features", PlxFeatures.from_bytes),
    ("weight-feature", WeightScaleFeature.from_bytes),
    ("weight+feature", lambda b: WeightMeasurement.from_bytes(b, WeightScaleFeature(0x3FF))),
    ("current-time", CurrentTime.from_bytes),
    ("racp-request", ble_racp.RacpRequest.from_bytes),
    ("racp-response", ble_racp.RacpResponse.from_bytes),
    ("pmd-request", PmdRequest.from_bytes),
    ("pmd-response", PmdResponse.from_bytes),
    ("pmd-features", supported_types),
]


@pytest.mark.parametrize(("name", "parse"), PARSERS, ids=[n for n, _ in PARSERS])
def test_other_parsers_never_crash(name: str, parse: Callable[[bytes], object], seed: int) -> None:
    rng = random.Random(f"{seed}-{name}")
    samples = [
        bytes.fromhex("f0 01 00 00 00 00 01 82 00 01 01 0e 00"),
        bytes.fromhex("0f 05 00"),
        bytes.fromhex("06 00 01 01"),
        bytes.fromhex("ea070b170c2d03 01 80 01"),
        bytes.fromhex("1f a0f0 6bf0 7df0 ea070b17081e00 4800 01 0f00"),
        bytes.fromhex("0300 e0ff ffff00"),
    ]
    for case, data in enumerate(_cases(rng, samples, 300)):
        try:
            parse(data)
        except CodecError as exc:
            assert "\n" not in str(exc), f"seed {seed} {name} case {case} {data.hex()}"
