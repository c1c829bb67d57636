"""Record Access Control Point (0x2A52): fetch, count and delete stored records (sans-IO).

A request is op code, operator, operand. The PLX Service (PLXS 1.0 §3.4) uses it for stored
Spot-check measurements with the "all records" operator: report (``01 01``), delete
(``02 01``), count (``04 01``), abort (``03 00``). The records themselves arrive as 0x2A5E
notifications with "data from measurement storage" set; the procedure ends with a Response
Code indication (``06 00 <request op> <code>``) or, for a count, ``05 00 <uint16>``.
Byte table: ``docs/protocols/ble-plx.md`` (section RACP).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from drivers.codecs.ble_types import Reader, enum_or_int
from drivers.errors import CodecError

CODEC_NAME: Final = "ble.racp"


class RacpOp(enum.IntEnum):
    """RACP op codes."""

    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_RECORDS = 4
    NUMBER_OF_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class RacpOperator(enum.IntEnum):
    """RACP operators."""

    NULL = 0
    ALL_RECORDS = 1
    LESS_OR_EQUAL = 2
    GREATER_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class RacpResponseCode(enum.IntEnum):
    """Response Code values (operand byte 1 of op code 6)."""

    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A RACP write. Unknown op codes and operators are kept as ints."""

    op: RacpOp | int
    operator: RacpOperator | int
    operand: bytes = b""

    def __post_init__(self) -> None:
        for name in ("op", "operator"):
            value = int(getattr(self, name))
            if not 0 <= value <= 0xFF:
                raise CodecError(f"{CODEC_NAME}: {name} {value} is outside 0..255")

    def __bytes__(self) -> bytes:
        return bytes((int(self.op), int(self.operator))) + self.operand

    @classmethod
    def from_bytes(cls, data: bytes) -> RacpRequest:
        """Decode a RACP write (the simulator's side, and logs)."""
        r = Reader(data, CODEC_NAME)
        op = enum_or_int(RacpOp, r.u8("op code"))
        operator = enum_or_int(RacpOperator, r.u8("operator"))
        return cls(op, operator, r.take(r.remaining, "operand"))


def report_all() -> bytes:
    """``01 01``: send every stored record."""
    return bytes(RacpRequest(RacpOp.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS))


def delete_all() -> bytes:
    """``02 01``: delete every stored record (after they were received and stored)."""
    return bytes(RacpRequest(RacpOp.DELETE_STORED_RECORDS, RacpOperator.ALL_RECORDS))


def count_all() -> bytes:
    """``04 01``: how many records are stored."""
    return bytes(RacpRequest(RacpOp.REPORT_NUMBER_OF_RECORDS, RacpOperator.ALL_RECORDS))


def abort() -> bytes:
    """``03 00``: stop a running report."""
    return bytes(RacpRequest(RacpOp.ABORT_OPERATION, RacpOperator.NULL))


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """A RACP indication: a Response Code (``request_op`` + ``code``) or a record count."""

    op: RacpOp | int
    request_op: RacpOp | int | None  # op code 6: the request this answers
    code: RacpResponseCode | int | None  # op code 6: the outcome
    count: int | None  # op code 5: number of stored records
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes) -> RacpResponse:
        """Decode op code 5 or 6; CodecError for another op code or a short operand."""
        r = Reader(data, CODEC_NAME)
        op = r.u8("op code")
        operator = r.u8("operator")
        if operator != RacpOperator.NULL:
            r.warn("operator", f"operator {operator} in a response (expected 0, null)")
        if op == RacpOp.NUMBER_OF_RECORDS_RESPONSE:
            count = r.u16("number of records")
            r.finish()
            return cls(RacpOp(op), None, None, count, tuple(r.warnings))
        if op == RacpOp.RESPONSE_CODE:
            request = enum_or_int(RacpOp, r.u8("request op code"))
            code = enum_or_int(RacpResponseCode, r.u8("response code value"))
            r.finish()
            return cls(RacpOp(op), request, code, None, tuple(r.warnings))
        raise CodecError(
            f"{CODEC_NAME}: offset 0: op code {op} is not a response (5 = number of records, "
            "6 = response code)"
        )

    @property
    def ok(self) -> bool:
        """True for a count, or for a Response Code of success."""
        return self.count is not None or self.code == RacpResponseCode.SUCCESS

    def __bytes__(self) -> bytes:
        if self.count is not None:
            return bytes((int(self.op), 0)) + self.count.to_bytes(2, "little")
        return bytes((int(self.op), 0, int(self.request_op or 0), int(self.code or 0)))
