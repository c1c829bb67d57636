"""How sure the gateway is of a value: a verdict enum plus machine-readable reasons.

Each domain module defines its own reason enum (``EcgReason``, ``BpReason`` …); an
``Assessed`` value carries the verdict and the reasons that led to it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Verdict(enum.Enum):
    """Trust in a derived value. Ordered: VALID < QUESTIONABLE < INVALID."""

    VALID = "valid"
    QUESTIONABLE = "questionable"
    INVALID = "invalid"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def worst(self, other: Verdict) -> Verdict:
        """The less trustworthy of two verdicts."""
        return self if self.rank >= other.rank else other


_RANK = {Verdict.VALID: 0, Verdict.QUESTIONABLE: 1, Verdict.INVALID: 2}


@dataclass(frozen=True, slots=True)
class Assessed:
    """A value with its verdict and reasons (enum members, never free text)."""

    value: float  # NaN when not computable (then the verdict is INVALID)
    verdict: Verdict
    reasons: tuple[enum.Enum, ...] = ()

    def __post_init__(self) -> None:
        if math.isnan(self.value) and self.verdict is not Verdict.INVALID:
            raise ValueError("a NaN value must have verdict INVALID")

    @property
    def usable(self) -> bool:
        """True unless INVALID: scores and traffic lights may use it."""
        return self.verdict is not Verdict.INVALID

    def reason_codes(self) -> list[str]:
        """Reasons as lower-case codes for JSON."""
        return [r.name.lower() for r in self.reasons]
