"""FHIR R4 export of a session: a pure builder (rows in, JSON-ready dict out, no I/O).

See docs/fhir.md. ``build_bundle(data, options)``; the rows come from :mod:`gateway.export`.
"""

from gateway.fhir.bundle import build_bundle
from gateway.fhir.context import ExportOptions

__all__ = ["ExportOptions", "build_bundle"]
