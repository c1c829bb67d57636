"""Sans-IO wire formats: bytes in, frozen dataclasses out; a registry for ``helserom decode``."""

from __future__ import annotations

from collections.abc import Callable

from drivers.codecs import nonin2
from drivers.errors import CodecError

CODECS: dict[str, Callable[[bytes], dict[str, object]]] = {
    nonin2.CODEC_NAME: nonin2.describe,
}
"""Codec name (as in ``helserom decode NAME HEX``) -> bytes-to-JSON-ready-dict function."""


def describe(codec: str, data: bytes) -> dict[str, object]:
    """Decode ``data`` with the codec named ``codec``; CodecError names the known codecs."""
    try:
        fn = CODECS[codec]
    except KeyError:
        known = ", ".join(sorted(CODECS))
        raise CodecError(f"unknown codec {codec!r}; known codecs: {known}") from None
    return fn(data)
