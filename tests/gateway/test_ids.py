"""UUIDv7: version and variant bits, time prefix, strictly increasing within a millisecond."""

from __future__ import annotations

import time

from gateway.ids import uuid7, uuid7_ms


def test_version_variant_and_time() -> None:
    before = time.time_ns() // 1_000_000
    u = uuid7()
    after = time.time_ns() // 1_000_000
    assert u.version == 7
    assert u.variant == "specified in RFC 4122"
    assert before <= uuid7_ms(u) <= after


def test_strictly_increasing_even_in_one_millisecond() -> None:
    ids = [uuid7() for _ in range(5000)]  # many share a millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert str(ids[0]) < str(ids[-1])  # text order is time order too


def test_known_prefix() -> None:
    u = uuid7(now_ms=0x017F22E279B0)  # RFC 9562 appendix A.6 example time
    assert str(u).startswith("017f22e2-79b0-7")
