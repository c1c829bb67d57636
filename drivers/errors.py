"""Errors raised by the drivers package.

    DriverError
    ├── CodecError          bytes that do not decode (exact reason and offset in the message)
    ├── UriError            a device URI that cannot be understood
    └── TransportError      moving bytes failed (port missing, permission, I/O)
        └── PortGoneError   the port vanished while open (device unplugged)

Errors from pyserial and the OS are translated at the edge with ``raise … from exc``
and carry advice a nurse or an IT engineer can act on.
"""

from __future__ import annotations


class DriverError(Exception):
    """Root of every error the drivers package raises."""


class CodecError(DriverError):
    """Bytes that do not decode; the message says what and where."""


class UriError(DriverError):
    """A device URI that cannot be understood."""


class TransportError(DriverError):
    """Moving bytes to or from a device failed."""


class PortGoneError(TransportError):
    """The port vanished while open (device unplugged or powered off)."""
