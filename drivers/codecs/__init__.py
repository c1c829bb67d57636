"""Sans-IO wire formats: bytes in, frozen dataclasses out; a registry for ``helserom decode``."""

from __future__ import annotations

from collections.abc import Callable

from drivers.codecs import (
    ble_bp,
    ble_hr,
    ble_plx,
    ble_thermo,
    ble_weight,
    cms50,
    nonin2,
    nonin7,
    nonin8,
    openbci,
    polar_pmd,
    spiro,
)
from drivers.errors import CodecError

CODECS: dict[str, Callable[[bytes], dict[str, object]]] = {
    nonin2.CODEC_NAME: nonin2.describe,
    nonin7.CODEC_NAME: nonin7.describe,
    nonin8.CODEC_NAME: nonin8.describe,
    cms50.CODEC_NAME: cms50.describe,
    openbci.CODEC_NAME: openbci.describe,
    spiro.CODEC_NAME: spiro.describe,
    ble_bp.BPM_CODEC: ble_bp.describe_bpm,
    ble_bp.ICP_CODEC: ble_bp.describe_icp,
    ble_plx.SPOT_CODEC: ble_plx.describe_spot,
    ble_plx.CONTINUOUS_CODEC: ble_plx.describe_continuous,
    ble_thermo.CODEC_NAME: ble_thermo.describe,
    ble_weight.CODEC_NAME: ble_weight.describe,
    ble_hr.CODEC_NAME: ble_hr.describe,
    polar_pmd.CODEC_NAME: polar_pmd.describe,
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
