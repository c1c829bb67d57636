"""What the FHIR builder reads: one session as plain rows (filled by :mod:`gateway.export`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class SessionRow:
    """The session row."""

    id: str
    state: str
    created_wall_s: float
    started_wall_s: float | None
    ended_wall_s: float | None
    patient: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class MeasurementRow:
    """One stored measurement (value None: NaN / the device's "no value")."""

    id: int
    device_id: str
    quantity: str
    value: float | None
    unit: str
    device_time: str | None  # ISO 8601 with offset, as the device said
    device_clock_set: bool
    received_wall_s: float
    quality: int  # drivers.model.QualityFlag bits
    verdict: str | None  # valid | questionable | invalid | None (engine failed)
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BlockRow:
    """One stored waveform block: ``samples[sample, channel]`` in ``unit``."""

    id: int
    device_id: str
    quantity: str
    channels: tuple[str, ...]
    fs_hz: float
    first_index: int
    unit: str
    samples: NDArray[np.float64]
    received_wall_s: float
    quality: int

    @property
    def n_samples(self) -> int:
        """Samples per channel."""
        return int(self.samples.shape[0])


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device seen in the session, with its latest Device Information (or None)."""

    id: str
    kind: str | None
    uri: str | None
    info: dict[str, str | None] | None


@dataclass(frozen=True, slots=True)
class SessionData:
    """Everything the export needs of one session."""

    session: SessionRow
    measurements: tuple[MeasurementRow, ...]
    blocks: tuple[BlockRow, ...]
    devices: tuple[DeviceRow, ...]
