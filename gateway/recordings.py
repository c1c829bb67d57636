"""Reading recordings for ``helserom analyze``: CSV with a header row of column names.

Errors name the file, the line and the column, and say what was expected, so a clinical engineer
can fix the file without reading code.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class RecordingError(ValueError):
    """A recording file cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Recording:
    """Columns of numbers from one CSV file."""

    path: Path
    names: tuple[str, ...]
    values: NDArray[np.float64]  # (samples, columns)

    def column(
        self, name: str | None, *, default: str | None = None
    ) -> tuple[str, NDArray[np.float64]]:
        """One column by name; None picks ``default`` when present, else the first column."""
        if name is None:
            name = default if default in self.names else self.names[0]
        if name not in self.names:
            raise RecordingError(
                f"{self.path}: no column {name!r}; columns are {', '.join(self.names)}"
            )
        return name, self.values[:, self.names.index(name)]


def read_csv(path: str | Path, *, min_rows: int = 1) -> Recording:
    """Read a CSV of numbers with a header row; empty cells and NaN are kept as NaN."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise RecordingError(f"{path}: empty file; expected a header row of column names")
    names = tuple(cell.strip() for cell in rows[0])
    if any(not name for name in names) or len(set(names)) != len(names):
        raise RecordingError(f"{path}: line 1: header {list(names)} must name every column once")
    if all(_is_number(name) for name in names):
        raise RecordingError(
            f"{path}: line 1 holds numbers; expected a header row of column names first"
        )
    data = np.empty((len(rows) - 1, len(names)), dtype=np.float64)
    for r, row in enumerate(rows[1:]):
        line = r + 2
        if len(row) != len(names):
            raise RecordingError(
                f"{path}: line {line}: {len(row)} values; "
                f"expected {len(names)} ({', '.join(names)})"
            )
        for c, cell in enumerate(row):
            data[r, c] = _parse(cell, path, line, names[c])
    if data.shape[0] < min_rows:
        raise RecordingError(f"{path}: {data.shape[0]} data rows; expected at least {min_rows}")
    return Recording(path, names, data)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _parse(cell: str, path: Path, line: int, column: str) -> float:
    cell = cell.strip()
    if not cell:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise RecordingError(
            f"{path}: line {line}, column {column!r}: {cell!r} is not a number"
        ) from None
