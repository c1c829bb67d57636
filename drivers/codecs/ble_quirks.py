"""Device-model quirks: known deviations from the Bluetooth SIG profiles, with their source.

Keyed by the Device Information Service strings (Manufacturer Name 0x2A29, Model Number
0x2A24), compared case-insensitively after trimming. A decoder takes the `Quirk` flags and
corrects the payload, and says so in its ``warnings`` (``quirk: …``), so a corrected value is
never silent. Add a model only with a source (a real capture or an issue thread) and a test.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Quirk(enum.IntFlag):
    """What a decoder must correct for one device model."""

    NONE = 0
    # Blood Pressure Measurement (0x2A35): Pulse Rate (SFLOAT) and Measurement Status
    # (uint16) arrive big-endian; the status bits sit in the second byte.
    BPM_PULSE_STATUS_BIG_ENDIAN = 1 << 0


@dataclass(frozen=True, slots=True)
class QuirkEntry:
    """One device model, what it gets wrong and where that is recorded."""

    manufacturer: str
    model: str
    quirks: Quirk
    source: str


QUIRKS: Final[tuple[QuirkEntry, ...]] = (
    QuirkEntry(
        "Beurer",
        "BM85",
        Quirk.BPM_PULSE_STATUS_BIG_ENDIAN,
        "github.com/derdilla/blood-pressure-monitor-fl pull requests #735 (BM85 sends pulse "
        "and measurement status in reversed byte order; Beurer's own app keeps a list of such "
        "models) and #737 (status test recorded from a BM85)",
    ),
)
"""The quirks table. One entry per (manufacturer, model)."""


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


_INDEX: Final = {(_norm(e.manufacturer), _norm(e.model)): e for e in QUIRKS}


def quirks_for(manufacturer: str | None, model: str | None) -> Quirk:
    """The quirks of a device model (Quirk.NONE when it is not in the table)."""
    entry = _INDEX.get((_norm(manufacturer), _norm(model)))
    return Quirk.NONE if entry is None else entry.quirks


def quirk_entry(manufacturer: str | None, model: str | None) -> QuirkEntry | None:
    """The table entry of a device model, for logs and the device page."""
    return _INDEX.get((_norm(manufacturer), _norm(model)))
