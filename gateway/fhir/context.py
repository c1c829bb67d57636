"""Export options (from config) and the references every built resource needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.clinical.careplan import CarePlan
from gateway.fhir.codes import full_url, ref

PatientMode = Literal["pseudonymous", "minimal"]


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """How to export: who the room is, how much of the patient, waveforms, care plan."""

    site: str
    room: str
    recorded_wall_s: float  # when the export was made (Provenance.recorded, Bundle.timestamp)
    patient: PatientMode = "pseudonymous"
    pseudonym_system: str = "urn:oid:2.16.578.1.12.4.1.4.9999"  # placeholder: set in config
    careplan: CarePlan | None = None
    waveforms: bool = True
    waveform_max_s: float = 60.0  # per device, quantity and channel
    reference: str = "gli2012"  # GLI equations for spirometry reference values


@dataclass(slots=True)
class Refs:
    """Bundle URLs of the session's shared resources, and the resources built so far."""

    session_id: str
    patient: str
    encounter: str
    gateway: str
    devices: dict[str, str] = field(default_factory=dict)
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def for_session(cls, session_id: str) -> Refs:
        """The fixed URLs of one session's Patient, Encounter and gateway Device."""
        return cls(
            session_id,
            full_url(session_id, "Patient"),
            full_url(session_id, "Encounter"),
            full_url(session_id, "Device/gateway"),
        )

    def url(self, key: str) -> str:
        """A stable URL for a resource of this session."""
        return full_url(self.session_id, key)

    def add(self, url: str, resource: dict[str, Any]) -> None:
        """Append a resource to the bundle."""
        self.entries.append((url, resource))

    def device(self, device_id: str) -> dict[str, str]:
        """Reference to a measuring device's Device resource."""
        return ref(self.devices[device_id])

    def common(self, device_id: str) -> dict[str, Any]:
        """subject, encounter, device and the PHD gateway extension of an Observation."""
        return {
            "subject": ref(self.patient),
            "encounter": ref(self.encounter),
            "device": self.device(device_id),
        }
