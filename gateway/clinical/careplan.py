"""The patient's self-management plan (egenbehandlingsplan, EBP) as traffic lights.

Norwegian digital home follow-up (digital hjemmeoppfølging) judges each measurement
against bands the care team sets per patient — green, yellow, red — and against trend
rules such as "weight up 2 kg within 3 days". The plan is a TOML file
(``config/careplans/*.toml``, see ``example.toml``); ``load_careplan`` is the only function
here that reads anything. An INVALID or NaN value never gets a colour.

Error tree::

    CarePlanError (ValueError)   key, value and what was expected
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.model import Quantity
from gateway.clinical.news2 import Spo2Scale
from gateway.signals.verdict import Assessed, Verdict

# Band limits outside these cannot be meant for the quantity's unit: a plan written in
# °F, grams or fractions is caught here. Inclusive, in the Quantity's UCUM unit.
# Rationale: survivable human physiology with margin; not a clinical standard.
PLAUSIBLE_LIMITS: Mapping[Quantity, tuple[float, float]] = {
    Quantity.SPO2: (50.0, 100.0),
    Quantity.PULSE_RATE: (20.0, 250.0),
    Quantity.HEART_RATE: (20.0, 250.0),
    Quantity.BP_SYSTOLIC: (50.0, 300.0),
    Quantity.BP_DIASTOLIC: (20.0, 200.0),
    Quantity.BP_MEAN: (20.0, 300.0),
    Quantity.BODY_TEMPERATURE: (30.0, 45.0),
    Quantity.BODY_WEIGHT: (2.0, 400.0),
    Quantity.RESPIRATION_RATE: (2.0, 80.0),
}
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0


class CarePlanError(ValueError):
    """A care plan that cannot be used; names the key, the value and what was expected."""

    def __init__(self, key: str, value: object, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"{key}: expected {expected}, got {value!r}")


class Colour(enum.Enum):
    """Traffic-light colour, ordered by severity."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Colour.GREEN: 0, Colour.YELLOW: 1, Colour.RED: 2}


@dataclass(frozen=True, slots=True)
class Band:
    """Values in [lower, upper) get this colour; ±inf for an open end."""

    colour: Colour
    lower: float
    upper: float
    label_nb: str
    label_en: str

    def contains(self, value: float) -> bool:
        return self.lower <= value < self.upper


@dataclass(frozen=True, slots=True)
class TrafficLight:
    """The colour of one value; questionable when the value's verdict was QUESTIONABLE."""

    quantity: Quantity
    colour: Colour
    questionable: bool
    band: Band


class Direction(enum.Enum):
    """Which way a trend rule looks."""

    RISE = "rise"
    FALL = "fall"


@dataclass(frozen=True, slots=True)
class TrendRule:
    """Fires when the newest value differs by ``change`` or more from one in the window."""

    quantity: Quantity
    direction: Direction
    change: float  # in the quantity's unit, > 0
    window_s: float
    colour: Colour
    label_nb: str
    label_en: str


@dataclass(frozen=True, slots=True)
class TrendAlert:
    """A fired trend rule with the two values that fired it."""

    rule: TrendRule
    from_time_s: float
    from_value: float
    to_time_s: float
    to_value: float
    questionable: bool  # one of the two values was QUESTIONABLE

    @property
    def colour(self) -> Colour:
        return self.rule.colour

    @property
    def change(self) -> float:
        """Signed change from the earlier to the newest value."""
        return self.to_value - self.from_value


@dataclass(frozen=True, slots=True)
class CarePlan:
    """Per-quantity bands and trend rules of one patient's plan."""

    plan_id: str
    label_nb: str
    label_en: str
    bands: Mapping[Quantity, tuple[Band, ...]]
    trends: tuple[TrendRule, ...]
    # NEWS2 SpO2 scale: 2 only where a clinician prescribed a target of 88–92 % (RCP 2017)
    spo2_scale: Spo2Scale = Spo2Scale.SCALE_1

    def light(self, quantity: Quantity | str, value: Assessed | float) -> TrafficLight | None:
        """The colour of a value; None when INVALID/NaN or the plan has no bands for it.

        An unknown quantity key raises KeyError (a programming error, not a plan error).
        """
        q = quantity if isinstance(quantity, Quantity) else Quantity.from_key(quantity)
        number, questionable = _usable(value)
        if number is None or q not in self.bands:
            return None
        for band in self.bands[q]:
            if band.contains(number):
                return TrafficLight(q, band.colour, questionable, band)
        return None  # pragma: no cover - load_careplan guarantees full coverage

    def trend(
        self, quantity: Quantity | str, history: Iterable[tuple[float, Assessed | float]]
    ) -> list[TrendAlert]:
        """Trend rules that fire at the newest usable value, most severe first."""
        q = quantity if isinstance(quantity, Quantity) else Quantity.from_key(quantity)
        points: list[tuple[float, float, bool]] = []
        for time_s, value in history:
            number, questionable = _usable(value)
            if number is not None and math.isfinite(time_s):
                points.append((time_s, number, questionable))
        if not points:
            return []
        points.sort(key=lambda p: p[0])
        newest_s, newest, newest_q = points[-1]
        alerts = []
        for rule in self.trends:
            if rule.quantity is not q:
                continue
            window = [p for p in points[:-1] if newest_s - p[0] <= rule.window_s]
            if not window:
                continue
            sign = 1.0 if rule.direction is Direction.RISE else -1.0
            # the earlier value that makes the change largest in the rule's direction
            start_s, start, start_q = max(window, key=lambda p: sign * (newest - p[1]))
            if sign * (newest - start) >= rule.change:
                alerts.append(
                    TrendAlert(rule, start_s, start, newest_s, newest, start_q or newest_q)
                )
        alerts.sort(key=lambda a: -a.colour.severity)
        return alerts


def _usable(value: Assessed | float) -> tuple[float | None, bool]:
    """The number to judge (None if INVALID or not finite) and whether it is questionable."""
    if isinstance(value, Assessed):
        if not value.usable or not math.isfinite(value.value):
            return None, False
        return value.value, value.verdict is Verdict.QUESTIONABLE
    number = float(value)
    return (number, False) if math.isfinite(number) else (None, False)


# --- loading ------------------------------------------------------------------------


def load_careplan(source: str | os.PathLike[str]) -> CarePlan:
    """Parse a care plan: a path (``Path``/PathLike) is read, a ``str`` is TOML text."""
    if isinstance(source, str):
        text, origin = source, "<text>"
    else:
        path = Path(source)
        text, origin = path.read_text(encoding="utf-8"), str(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CarePlanError(origin, str(exc), "valid TOML") from exc
    return _parse(doc)


def _str(table: Mapping[str, Any], name: str, key: str) -> str:
    value = table.get(name)
    if not isinstance(value, str) or not value.strip():
        raise CarePlanError(f"{key}.{name}", value, "a non-empty string")
    return value


def _number(table: Mapping[str, Any], name: str, key: str) -> float | None:
    value = table.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CarePlanError(f"{key}.{name}", value, "a finite number")
    return float(value)


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise CarePlanError(key, value, "a table")
    return value


def _unknown_keys(table: Mapping[str, Any], allowed: set[str], key: str) -> None:
    for name in table:
        if name not in allowed:
            raise CarePlanError(f"{key}.{name}", table[name], f"one of {sorted(allowed)}")


def _quantity(name: object, key: str) -> Quantity:
    q = None
    if isinstance(name, str):
        with contextlib.suppress(KeyError):
            q = Quantity.from_key(name)
    if q is None or q not in PLAUSIBLE_LIMITS:
        known = sorted(x.spec.key for x in PLAUSIBLE_LIMITS)
        raise CarePlanError(key, name, f"a quantity key, one of {known}")
    return q


def _colour(table: Mapping[str, Any], key: str) -> Colour:
    value = table.get("light")
    try:
        return Colour(value)
    except ValueError:
        raise CarePlanError(f"{key}.light", value, '"green", "yellow" or "red"') from None


def _parse(doc: Mapping[str, Any]) -> CarePlan:
    _unknown_keys(doc, {"plan", "quantities", "trends", "news2"}, "<top>")
    plan = _table(doc.get("plan"), "plan")
    _unknown_keys(plan, {"id", "label_nb", "label_en"}, "plan")
    quantities = _table(doc.get("quantities", {}), "quantities")
    bands = {
        _quantity(name, f"quantities.{name}"): _parse_bands(name, _table(q, f"quantities.{name}"))
        for name, q in quantities.items()
    }
    trends_raw = doc.get("trends", [])
    if not isinstance(trends_raw, list):
        raise CarePlanError("trends", trends_raw, "an array of tables ([[trends]])")
    trends = tuple(
        _parse_trend(_table(t, f"trends[{i}]"), f"trends[{i}]") for i, t in enumerate(trends_raw)
    )
    return CarePlan(
        plan_id=_str(plan, "id", "plan"),
        label_nb=_str(plan, "label_nb", "plan"),
        label_en=_str(plan, "label_en", "plan"),
        bands=bands,
        trends=trends,
        spo2_scale=_parse_news2(_table(doc.get("news2", {}), "news2")),
    )


def _parse_news2(table: Mapping[str, Any]) -> Spo2Scale:
    _unknown_keys(table, {"spo2_scale"}, "news2")
    value = table.get("spo2_scale", 1)
    if isinstance(value, bool) or value not in (1, 2):
        raise CarePlanError("news2.spo2_scale", value, "1 or 2 (2: target 88–92 %, RCP 2017)")
    return Spo2Scale(value)


def _check_unit(q: Quantity, table: Mapping[str, Any], key: str) -> None:
    unit = table.get("unit")
    if unit != q.spec.ucum:
        raise CarePlanError(f"{key}.unit", unit, f'"{q.spec.ucum}" (UCUM unit of {q.spec.key})')


def _check_plausible(q: Quantity, value: float | int, key: str) -> None:
    low, high = PLAUSIBLE_LIMITS[q]
    if not low <= value <= high:
        raise CarePlanError(key, value, f"a value in {q.spec.ucum} between {low:g} and {high:g}")


def _parse_bands(name: str, table: Mapping[str, Any]) -> tuple[Band, ...]:
    key = f"quantities.{name}"
    q = Quantity.from_key(name)
    _unknown_keys(table, {"unit", "bands"}, key)
    _check_unit(q, table, key)
    raw = table.get("bands")
    if not isinstance(raw, list) or not raw:
        raise CarePlanError(f"{key}.bands", raw, "a non-empty array of bands, lowest first")
    bands: list[Band] = []
    for i, item in enumerate(raw):
        bkey = f"{key}.bands[{i}]"
        band = _table(item, bkey)
        _unknown_keys(band, {"light", "from", "below", "label_nb", "label_en"}, bkey)
        lower = _number(band, "from", bkey)
        upper = _number(band, "below", bkey)
        for field in ("from", "below"):
            if band.get(field) is not None:
                _check_plausible(q, band[field], f"{bkey}.{field}")
        first, last = i == 0, i == len(raw) - 1
        if first and lower is not None:
            raise CarePlanError(f"{bkey}.from", band["from"], "no lower limit on the first band")
        if last and upper is not None:
            raise CarePlanError(f"{bkey}.below", band["below"], "no upper limit on the last band")
        if not first and lower is None:
            raise CarePlanError(
                f"{bkey}.from", None, f"the previous band's below ({bands[-1].upper:g})"
            )
        if not last and upper is None:
            raise CarePlanError(
                f"{bkey}.below", None, "an upper limit (only the last band is open)"
            )
        lo = -math.inf if lower is None else lower
        hi = math.inf if upper is None else upper
        if lo >= hi:
            raise CarePlanError(f"{bkey}.below", band.get("below"), f"a value above from ({lo:g})")
        if bands and lo != bands[-1].upper:
            what = "gap" if lo > bands[-1].upper else "overlap"
            raise CarePlanError(
                f"{bkey}.from",
                band.get("from"),
                f"{bands[-1].upper:g} (the previous band's below; bands must not {what})",
            )
        bands.append(
            Band(
                _colour(band, bkey),
                lo,
                hi,
                _str(band, "label_nb", bkey),
                _str(band, "label_en", bkey),
            )
        )
    return tuple(bands)


def _parse_trend(table: Mapping[str, Any], key: str) -> TrendRule:
    allowed = {"quantity", "rise", "fall", "within_days", "within_hours", "light"}
    _unknown_keys(table, allowed | {"label_nb", "label_en", "unit"}, key)
    q = _quantity(table.get("quantity"), f"{key}.quantity")
    _check_unit(q, table, key)
    rise, fall = _number(table, "rise", key), _number(table, "fall", key)
    if (rise is None) == (fall is None):
        raise CarePlanError(f"{key}.rise", table.get("rise"), "exactly one of rise or fall")
    direction, change = (Direction.RISE, rise) if rise is not None else (Direction.FALL, fall)
    assert change is not None
    if change <= 0:
        raise CarePlanError(f"{key}.{direction.value}", table[direction.value], "a positive change")
    days, hours = _number(table, "within_days", key), _number(table, "within_hours", key)
    if (days is None) == (hours is None):
        raise CarePlanError(
            f"{key}.within_days", days, "exactly one of within_days or within_hours"
        )
    field, amount, unit_s = (
        ("within_days", days, SECONDS_PER_DAY)
        if days is not None
        else ("within_hours", hours, SECONDS_PER_HOUR)
    )
    assert amount is not None
    if amount <= 0:
        raise CarePlanError(f"{key}.{field}", table[field], "a positive duration")
    return TrendRule(
        q,
        direction,
        change,
        amount * unit_s,
        _colour(table, key),
        _str(table, "label_nb", key),
        _str(table, "label_en", key),
    )


__all__ = [
    "Band",
    "CarePlan",
    "CarePlanError",
    "Colour",
    "Direction",
    "TrafficLight",
    "TrendAlert",
    "TrendRule",
    "load_careplan",
]
