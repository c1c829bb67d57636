"""Errors raised by the simulated room.

HwsimError
├── EncodeError (also a ValueError)   a device state the wire format cannot carry
├── SimPortError                      the pseudo-terminal or its link could not be made
└── CommandError (also a ValueError)  a command or setting that cannot be carried out
"""

from __future__ import annotations


class HwsimError(Exception):
    """Root of every error raised by hwsim."""


class EncodeError(HwsimError, ValueError):
    """A value that the device's wire format cannot carry."""


class SimPortError(HwsimError):
    """The simulated serial port could not be created or used."""


class CommandError(HwsimError, ValueError):
    """A control command that is unknown, malformed or impossible right now."""
