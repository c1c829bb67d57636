"""Verdicts for spot values: what the device's own status bits and plain plausibility say.

A spot value (SpO2, pulse rate, temperature, weight …) arrives as a Measurement with the
device's status as QualityFlag bits. This module turns those bits, and a plausibility range per
quantity, into an :class:`Assessed`. Waveform-aware checks (the pleth behind an SpO2, the ECG
behind a heart rate) refine the verdict in :mod:`gateway.signals.engine`; blood pressure is judged
as a whole reading in :mod:`gateway.clinical.bp`.
"""

from __future__ import annotations

import enum
import math

from drivers.model import Measurement, QualityFlag, Quantity
from gateway.signals.verdict import Assessed, Verdict


class SpotReason(enum.Enum):
    """Why a spot value is not simply VALID."""

    MISSING = "missing"  # the device sent its "no value" code
    NOT_FINITE = "not_finite"
    SENSOR_OFF = "sensor_off"
    OUT_OF_TRACK = "out_of_track"
    SENSOR_ALARM = "sensor_alarm"
    ARTIFACT = "artifact"
    LOW_PERFUSION = "low_perfusion"
    MARGINAL_PERFUSION = "marginal_perfusion"
    DEVICE_OUT_OF_RANGE = "device_out_of_range"
    DEVICE_INVALID = "device_invalid"  # the device itself marks the value invalid
    DEVICE_QUESTIONABLE = "device_questionable"  # … questionable or an early estimate
    IMPLAUSIBLE = "implausible"  # outside what a living patient can show
    STORED = "stored"  # read back from device memory: old, not from this session
    CLOCK_NOT_SET = "clock_not_set"  # the device's timestamp cannot be trusted
    GAP_BEFORE = "gap_before"


# Plausibility limits, inclusive. Outside: a device or transfer error, not physiology.
# Engineering judgement (the widest range any adult/child monitor specifies), not a standard.
PLAUSIBLE: dict[Quantity, tuple[float, float]] = {
    Quantity.SPO2: (50.0, 100.0),  # oximeters are specified 70–100 %; below 50 % none is accurate
    Quantity.PULSE_RATE: (20.0, 300.0),
    Quantity.HEART_RATE: (20.0, 300.0),
    Quantity.BODY_TEMPERATURE: (25.0, 45.0),  # °C; survivable extremes of hypo-/hyperthermia
    Quantity.BODY_WEIGHT: (0.5, 400.0),  # kg
    Quantity.RESPIRATION_RATE: (2.0, 80.0),
    Quantity.PERFUSION_INDEX: (0.01, 25.0),  # % ; Masimo-class devices report 0.02–20
    Quantity.CUFF_PRESSURE: (0.0, 320.0),  # mmHg; cuffs stop inflating near 300
}

# Device flag -> (verdict, reason). Order is the order reasons are reported in.
_FLAG_VERDICTS: tuple[tuple[QualityFlag, Verdict, SpotReason], ...] = (
    (QualityFlag.SENSOR_DISCONNECTED, Verdict.INVALID, SpotReason.SENSOR_OFF),
    (QualityFlag.OUT_OF_TRACK, Verdict.INVALID, SpotReason.OUT_OF_TRACK),
    (QualityFlag.SENSOR_ALARM, Verdict.QUESTIONABLE, SpotReason.SENSOR_ALARM),
    (QualityFlag.ARTIFACT, Verdict.QUESTIONABLE, SpotReason.ARTIFACT),
    (QualityFlag.LOW_PERFUSION, Verdict.QUESTIONABLE, SpotReason.LOW_PERFUSION),
    (QualityFlag.MARGINAL_PERFUSION, Verdict.VALID, SpotReason.MARGINAL_PERFUSION),
    (QualityFlag.OUT_OF_RANGE, Verdict.INVALID, SpotReason.DEVICE_OUT_OF_RANGE),
    (QualityFlag.DEVICE_INVALID, Verdict.INVALID, SpotReason.DEVICE_INVALID),
    (QualityFlag.DEVICE_QUESTIONABLE, Verdict.QUESTIONABLE, SpotReason.DEVICE_QUESTIONABLE),
    (QualityFlag.STORED, Verdict.QUESTIONABLE, SpotReason.STORED),
    (QualityFlag.DEVICE_CLOCK_NOT_SET, Verdict.VALID, SpotReason.CLOCK_NOT_SET),
    (QualityFlag.GAP_BEFORE, Verdict.VALID, SpotReason.GAP_BEFORE),
)


def assess_spot(m: Measurement) -> Assessed:
    """The verdict of one spot value from the device's flags and plausibility."""
    return assess_value(m.quantity, m.value, m.quality)


def assess_value(quantity: Quantity, value: float, quality: QualityFlag | int) -> Assessed:
    """Like :func:`assess_spot`, for a bare value (used by the CLI and tests)."""
    flags = QualityFlag(int(quality))
    if QualityFlag.MISSING in flags or math.isnan(value):
        return Assessed(math.nan, Verdict.INVALID, (SpotReason.MISSING,))
    if math.isinf(value):
        return Assessed(math.nan, Verdict.INVALID, (SpotReason.NOT_FINITE,))
    verdict = Verdict.VALID
    reasons: list[SpotReason] = []
    for flag, level, reason in _FLAG_VERDICTS:
        if flag in flags:
            verdict = verdict.worst(level)
            reasons.append(reason)
    low, high = PLAUSIBLE.get(quantity, (-math.inf, math.inf))
    if not low <= value <= high:
        verdict = Verdict.INVALID
        reasons.append(SpotReason.IMPLAUSIBLE)
    if verdict is Verdict.INVALID:
        value = math.nan
    return Assessed(value, verdict, tuple(reasons))
