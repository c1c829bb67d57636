"""Live message schema details: JSON has no NaN, verdicts ride along."""

from __future__ import annotations

import json
import math

import numpy as np

from drivers.model import Measurement, QualityFlag, Quantity, ReceiveTime, SampleBlock
from gateway.clinical.bp import BpCategory
from gateway.live import measurement_message, waveform_message
from gateway.signals.engine import BpClass
from gateway.signals.spot import assess_spot


def test_nan_samples_are_null_in_json() -> None:
    values = np.array([[0.5], [math.nan], [1.25]])
    block = SampleBlock(
        Quantity.AIRWAY_FLOW, "spiro-1", ("flow",), 100.0, 0, values, "L/s", ReceiveTime(1, 1)
    )
    msg = waveform_message(block)
    assert msg["data"] == [[0.5, None, 1.25]]
    json.dumps(msg, allow_nan=False)


def test_missing_measurement_is_null_and_invalid() -> None:
    m = Measurement(
        Quantity.SPO2, math.nan, "%", "ox", ReceiveTime(1, 1), quality=QualityFlag.MISSING
    )
    msg = measurement_message(m, assess_spot(m))
    assert (msg["value"], msg["verdict"], msg["reasons"]) == (None, "invalid", ["missing"])
    json.dumps(msg, allow_nan=False)


def test_bp_category_rides_on_systolic_and_diastolic_only_when_given() -> None:
    t = ReceiveTime(1, 1)
    sys_m = Measurement(Quantity.BP_SYSTOLIC, 165.0, "mm[Hg]", "cuff", t)
    msg = measurement_message(sys_m, None, None, BpClass(BpCategory.GRADE_2, 2))
    assert msg["bp_category"] == {"category": "grade_2", "hypertension_grade": 2}
    json.dumps(msg, allow_nan=False)
    normal = measurement_message(sys_m, None, None, BpClass(BpCategory.NORMAL, None))
    assert normal["bp_category"] == {"category": "normal", "hypertension_grade": None}
    assert "bp_category" not in measurement_message(sys_m)  # older readers see no change
