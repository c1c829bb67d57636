"""Waveforms as SampledData Observations, in the manner of the HL7 PHD IG's RTSA observations.

One Observation per channel per contiguous segment: a jump in ``first_index`` (lost samples)
or a change of rate/channels starts a new segment, so gaps are never silently joined.
SampledData carries origin, period (ms), factor and integer data; ``data[k] * factor +
origin`` is sample k in the quantity's UCUM unit ("E" for a non-finite sample). The factor is
a power of ten chosen per segment so that the largest sample needs at most five digits
(relative precision ≈ 1e-5 of the segment's range); the first sample's time is estimated from
the gateway's receive time of the first block (devices send no per-sample time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.fhir.codes import (
    ECG_LEAD_TERMS,
    EXT_FIRST_INDEX,
    GATEWAY_DEVICE_EXT,
    MDC,
    MDC_ECG_ELEC_POTL,
    OBS_CATEGORY,
    UCUM,
    instant,
    known_quantity,
    quantity_code,
    ref,
)
from gateway.fhir.context import Refs
from gateway.fhir.source import BlockRow

MAX_DIGITS = 5  # integer digits per sample in SampledData.data


@dataclass(frozen=True, slots=True)
class Segment:
    """Contiguous samples of one device and quantity: ``samples[sample, channel]``."""

    device_id: str
    quantity: str
    channels: tuple[str, ...]
    fs_hz: float
    unit: str
    first_index: int
    start_wall_s: float  # estimated time of the first sample (gateway clock)
    samples: NDArray[np.float64]


def segments(blocks: Sequence[BlockRow]) -> list[Segment]:
    """Join blocks (sorted by device, quantity, first_index) into contiguous segments."""
    out: list[Segment] = []
    run: list[BlockRow] = []

    def flush() -> None:
        if run:
            head = run[0]
            start = head.received_wall_s - head.n_samples / head.fs_hz
            data = np.concatenate([b.samples for b in run], axis=0)
            out.append(
                Segment(
                    head.device_id,
                    head.quantity,
                    head.channels,
                    head.fs_hz,
                    head.unit,
                    head.first_index,
                    start,
                    data,
                )
            )
            run.clear()

    for b in blocks:
        if run:
            last = run[-1]
            same = (last.device_id, last.quantity, last.channels, last.fs_hz, last.unit) == (
                b.device_id,
                b.quantity,
                b.channels,
                b.fs_hz,
                b.unit,
            )
            if not same or b.first_index != last.first_index + last.n_samples:
                flush()
        run.append(b)
    flush()
    return out


def factor_for(x: NDArray[np.float64]) -> float:
    """A power of ten so that every |x| / factor has at most MAX_DIGITS integer digits."""
    finite = x[np.isfinite(x)]
    peak = float(np.max(np.abs(finite))) if finite.size else 0.0
    if peak == 0.0:
        return 1.0
    exponent = math.floor(math.log10(peak)) + 1 - MAX_DIGITS
    return float(10.0**exponent)


def encode(x: NDArray[np.float64], factor: float) -> str:
    """SampledData.data: integers (x / factor, rounded half to even), "E" for non-finite."""
    finite = np.isfinite(x)
    tokens = [str(v) for v in np.rint(np.where(finite, x, 0.0) / factor).astype(np.int64).tolist()]
    for k in np.flatnonzero(~finite).tolist():
        tokens[k] = "E"
    return " ".join(tokens)


def decode(data: str, factor: float, origin: float = 0.0) -> NDArray[np.float64]:
    """Back to samples (NaN for "E"); the inverse of :func:`encode`."""
    return np.array(
        [math.nan if t == "E" else int(t) * factor + origin for t in data.split()],
        dtype=np.float64,
    )


def waveform_observations(blocks: Sequence[BlockRow], refs: Refs, max_s: float) -> list[str]:
    """Add SampledData Observations (at most ``max_s`` per device/quantity/channel); URLs."""
    urls: list[str] = []
    budget: dict[tuple[str, str], float] = {}
    for seg in segments(blocks):
        key = (seg.device_id, seg.quantity)
        left = max_s - budget.get(key, 0.0)
        n = min(seg.samples.shape[0], int(left * seg.fs_hz + 1e-9))
        if n <= 0:
            continue
        budget[key] = budget.get(key, 0.0) + n / seg.fs_hz
        for c, channel in enumerate(seg.channels):
            url = refs.url(f"Observation/w/{seg.device_id}/{seg.quantity}/{seg.first_index}/{c}")
            refs.add(url, _observation(seg, c, channel, seg.samples[:n, c], refs))
            urls.append(url)
    return urls


def _code(quantity: str, channel: str) -> dict[str, Any]:
    q = known_quantity(quantity)
    if q is None:
        return {"text": f"{quantity} {channel}"}
    if quantity == "ecg":
        term = ECG_LEAD_TERMS.get(channel)
        mdc = MDC_ECG_ELEC_POTL + term if term is not None else MDC_ECG_ELEC_POTL
        name = f"MDC_ECG_ELEC_POTL_{channel.upper()}" if term is not None else "MDC_ECG_ELEC_POTL"
        return {
            "coding": [{"system": MDC, "code": str(mdc), "display": name}],
            "text": f"ECG lead {channel}",
        }
    code = quantity_code(q.spec)
    code["text"] = f"{q.spec.label_en} ({channel})" if channel else q.spec.label_en
    return code


def _observation(
    seg: Segment, c: int, channel: str, x: NDArray[np.float64], refs: Refs
) -> dict[str, Any]:
    factor = factor_for(x)
    period_ms = 1000.0 / seg.fs_hz
    end = seg.start_wall_s + x.size / seg.fs_hz
    return {
        "resourceType": "Observation",
        "extension": [
            {"url": GATEWAY_DEVICE_EXT, "valueReference": ref(refs.gateway)},
            {"url": EXT_FIRST_INDEX, "valueDecimal": seg.first_index},
        ],
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "procedure"}]}],
        "code": _code(seg.quantity, channel),
        **refs.common(seg.device_id),
        "effectivePeriod": {"start": instant(seg.start_wall_s), "end": instant(end)},
        "valueSampledData": {
            "origin": {"value": 0, "unit": seg.unit, "system": UCUM, "code": seg.unit},
            "period": round(period_ms, 6),
            "factor": factor,
            "dimensions": 1,
            "data": encode(x, factor),
        },
    }
