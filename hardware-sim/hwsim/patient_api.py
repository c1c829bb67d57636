"""What a simulated device asks of the simulated patient.

One patient drives every simulated device in the room, so their signals agree: the oximeter's
pulses follow the ECG's R peaks (plus a pulse transit time), the cuff reads the scenario's blood
pressure, and so on. ``hwsim.patient`` implements :class:`PatientSource` from scenario files;
devices only see this protocol, so a device can also run on its own simple built-in generator.

Every signal is a pure function of time since the room started (``t0_s``), so two devices sampling
at different rates, or one device reading in blocks of any size, see one consistent patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class VitalSigns:
    """The patient's true state at one moment (what a perfect device would read)."""

    hr_bpm: float
    spo2_pct: float
    perfusion_index_pct: float  # pulsatile/non-pulsatile ratio of the pleth, in %
    systolic_mmhg: float
    diastolic_mmhg: float
    temperature_c: float
    resp_rate_bpm: float
    weight_kg: float
    rhythm: str  # "sinus", "af", … (scenario vocabulary)


class PatientSource(Protocol):
    """The simulated patient, as devices see it."""

    def vitals(self, t_s: float) -> VitalSigns:
        """True vital signs at ``t_s`` seconds since the room started."""
        ...

    def ecg_uv(
        self, t0_s: float, n: int, fs_hz: float, leads: Sequence[str]
    ) -> NDArray[np.float64]:
        """ECG samples ``t0_s + k / fs_hz`` for k < n, shape (n, len(leads)), in µV."""
        ...

    def pleth(self, t0_s: float, n: int, fs_hz: float) -> NDArray[np.float64]:
        """Normalised pleth (0..1, larger = more blood volume), shape (n,)."""
        ...

    def forced_expiration_lps(self, fs_hz: float, profile: str = "normal") -> NDArray[np.float64]:
        """One forced expiratory manoeuvre as airway flow in L/s (expiration positive)."""
        ...

    def finger_out(self, t_s: float) -> bool:
        """True while the patient's finger is out of the oximeter probe (scenario artifact)."""
        ...
