"""Live message schema details: JSON has no NaN, verdicts ride along."""

from __future__ import annotations

import json
import math

import numpy as np

from drivers.model import Measurement, QualityFlag, Quantity, ReceiveTime, SampleBlock
from gateway.live import measurement_message, waveform_message
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
