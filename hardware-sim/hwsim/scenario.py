"""Scenario files: a simulated patient over time, read from TOML and checked key by key.

A scenario gives baseline vitals, then ramps (a value moving linearly to a target; a ramp of
zero duration is a step), rhythm episodes (AF from 120 s to 300 s), artifacts on the ECG
electrodes or the pleth, ectopic beat rates and the patient's spirometry. Every trajectory is
piecewise linear, kept as knots so that a value at any time (or array of times) is one
``np.interp``. The file format is documented key by key in docs/simulator.md.

Errors name the file, the key, the value and what was expected, e.g.
``copd.toml: baseline.hr_bpm = 400: expected a number in 20..250``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from hwsim.errors import HwsimError

# Limits a scenario may set (what a living adult in a health room can show, and what the models
# stay sensible for); a file outside them is a typo more often than an intent.
VITAL_LIMITS: Final[Mapping[str, tuple[float, float]]] = {
    "hr_bpm": (20.0, 250.0),
    "spo2_pct": (50.0, 100.0),
    "perfusion_index_pct": (0.02, 20.0),
    "systolic_mmhg": (50.0, 260.0),
    "diastolic_mmhg": (20.0, 160.0),
    "temperature_c": (30.0, 43.0),
    "resp_rate_bpm": (4.0, 60.0),
    "weight_kg": (20.0, 300.0),
}
VITAL_DEFAULTS: Final[Mapping[str, float]] = {
    "hr_bpm": 72.0,
    "spo2_pct": 97.0,
    "perfusion_index_pct": 4.0,
    "systolic_mmhg": 122.0,
    "diastolic_mmhg": 78.0,
    "temperature_c": 36.8,
    "resp_rate_bpm": 14.0,
    "weight_kg": 75.0,
}
RHYTHMS: Final = ("sinus", "af")
PATTERNS: Final = ("normal", "obstructive", "restrictive")
ELECTRODES: Final = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")
ECG_ARTIFACTS: Final = ("emg", "motion", "wander", "mains", "lead-off", "saturation")
PLETH_ARTIFACTS: Final = ("motion", "finger-out", "low-perfusion")
STEP_S: Final = 1e-6  # a ramp of zero duration becomes a step this steep

_TOP_KEYS: Final = frozenset(
    {"name", "description", "duration_s", "subject", "baseline", "hrv", "ectopy", "ramp"}
    | {"episode", "artifact", "spirometry"}
)


class ScenarioError(HwsimError, ValueError):
    """A scenario file that cannot be read, or a key in it with a value out of bounds."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Who the patient is (spirometry reference values need it)."""

    sex: str = "female"
    age_years: float = 60.0
    height_cm: float = 170.0


@dataclass(frozen=True, slots=True)
class Hrv:
    """Heart rate variability and rhythm parameters (ECGSYN RR model, McSharry et al. 2003)."""

    rr_sd_pct: float = 4.0  # sinus RR standard deviation, % of the mean RR
    lf_hf_ratio: float = 0.5  # power in the 0.1 Hz (Mayer wave) band over the respiratory band
    af_rr_cv_pct: float = 22.0  # AF RR coefficient of variation, %
    af_fwave_uv: float = 60.0  # fibrillatory wave amplitude in V1-like projections, µV


@dataclass(frozen=True, slots=True)
class Ectopy:
    """Ectopic beat rates during sinus rhythm, per minute (Poisson)."""

    pvc_per_min: float = 0.0
    pac_per_min: float = 0.0


@dataclass(frozen=True, slots=True)
class Ramp:
    """A vital moving linearly from its value (or ``from_value``) to ``to_value``."""

    key: str
    start_s: float
    duration_s: float
    to_value: float
    from_value: float | None = None


@dataclass(frozen=True, slots=True)
class Episode:
    """A rhythm other than the baseline's over [start_s, end_s)."""

    rhythm: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Artifact:
    """An artifact on the ECG electrodes or the pleth over [start_s, end_s)."""

    kind: str
    target: str  # "ecg" or "pleth"
    start_s: float
    end_s: float
    electrodes: tuple[str, ...] = ELECTRODES  # ECG only
    snr_db: float | None = None  # ECG noise size against lead II, or …
    amplitude: float | None = None  # … µV (ECG) / pleth full-scale fraction / factor (see docs)


@dataclass(frozen=True, slots=True)
class Spirometry:
    """The patient's lungs: forced expiration parameters (see hwsim.spiro_model)."""

    pattern: str = "normal"
    fvc_l: float = 3.8
    fev1_l: float = 3.0
    pef_lps: float | None = None  # None: the model's typical value for the pattern


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario: what ``load_scenario`` returns and ``Patient`` runs."""

    name: str
    description: str = ""
    duration_s: float = 600.0
    subject: Subject = Subject()
    baseline: Mapping[str, float] = field(default_factory=lambda: dict(VITAL_DEFAULTS))
    rhythm: str = "sinus"
    hrv: Hrv = Hrv()
    ectopy: Ectopy = Ectopy()
    ramps: tuple[Ramp, ...] = ()
    episodes: tuple[Episode, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    spirometry: Spirometry = Spirometry()
    _knots: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for key in VITAL_LIMITS:
            self._knots[key] = _build_knots(
                float(self.baseline.get(key, VITAL_DEFAULTS[key])),
                [r for r in self.ramps if r.key == key],
            )

    def value(self, key: str, t_s: float) -> float:
        """The scenario's value of vital ``key`` at ``t_s`` (scenario time)."""
        knots_t, knots_v = self._knots[key]
        return float(np.interp(t_s, knots_t, knots_v))

    def values(self, key: str, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """The same at many times."""
        knots_t, knots_v = self._knots[key]
        out: NDArray[np.float64] = np.interp(t_s, knots_t, knots_v)
        return out

    def rhythm_at(self, t_s: float) -> str:
        """The rhythm at ``t_s``: the last episode covering it, else the baseline rhythm."""
        rhythm = self.rhythm
        for episode in self.episodes:
            if episode.start_s <= t_s < episode.end_s:
                rhythm = episode.rhythm
        return rhythm

    def active_artifacts(self, target: str, t_s: float) -> tuple[Artifact, ...]:
        """Artifacts on ``target`` ("ecg" or "pleth") at ``t_s``."""
        return tuple(a for a in self.artifacts if a.target == target and a.start_s <= t_s < a.end_s)


def _build_knots(
    baseline: float, ramps: Sequence[Ramp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Knots of a piecewise-linear trajectory; a later ramp overrides what an earlier one did
    after the later one starts."""
    knots: list[tuple[float, float]] = [(0.0, baseline)]
    for ramp in sorted(ramps, key=lambda r: r.start_s):
        ts = np.array([k[0] for k in knots])
        vs = np.array([k[1] for k in knots])
        at_start = float(np.interp(ramp.start_s, ts, vs))
        knots = [k for k in knots if k[0] < ramp.start_s]
        knots.append((ramp.start_s, at_start))
        start_value = at_start if ramp.from_value is None else ramp.from_value
        if ramp.from_value is not None:
            knots.append((ramp.start_s + STEP_S, start_value))
        end_s = ramp.start_s + max(ramp.duration_s, 2.0 * STEP_S)
        knots.append((end_s, ramp.to_value))
    return (np.array([k[0] for k in knots]), np.array([k[1] for k in knots]))


# --- loading ----------------------------------------------------------------------------


class _Reader:
    """Takes typed values out of one TOML table, with errors naming file, key and value."""

    def __init__(self, source: str, prefix: str, table: Any) -> None:
        self.source = source
        self.prefix = prefix
        if not isinstance(table, dict):
            self.fail("", table, "a table")
        self.table: dict[str, Any] = table

    def fail(self, key: str, value: object, expected: str) -> None:
        name = f"{self.prefix}.{key}" if self.prefix and key else (self.prefix or key)
        raise ScenarioError(f"{self.source}: {name} = {value!r}: expected {expected}")

    def check_keys(self, allowed: Sequence[str] | frozenset[str]) -> None:
        for key in self.table:
            if key not in allowed:
                self.fail(
                    key, self.table[key], f"no such key (allowed: {', '.join(sorted(allowed))})"
                )

    def number(
        self, key: str, default: float | None, lo: float, hi: float, *, required: bool = False
    ) -> float:
        if key not in self.table:
            if required or default is None:
                raise ScenarioError(
                    f"{self.source}: {self._name(key)} is missing: expected a number"
                )
            return default
        value = self.table[key]
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or math.isnan(value) or not lo <= value <= hi:
            self.fail(key, value, f"a number in {lo:g}..{hi:g}")
        return float(value)

    def optional_number(self, key: str, lo: float, hi: float) -> float | None:
        return self.number(key, None, lo, hi) if key in self.table else None

    def choice(self, key: str, default: str | None, choices: Sequence[str]) -> str:
        if key not in self.table:
            if default is None:
                raise ScenarioError(
                    f"{self.source}: {self._name(key)} is missing: expected one of {list(choices)}"
                )
            return default
        value = self.table[key]
        if value not in choices:
            self.fail(key, value, f"one of {list(choices)}")
        return str(value)

    def text(self, key: str, default: str) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            self.fail(key, value, "a string")
        return str(value)

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key


def _tables(source: str, data: dict[str, Any], key: str) -> list[_Reader]:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise ScenarioError(f"{source}: {key} = {items!r}: expected an array of tables [[{key}]]")
    return [_Reader(source, f"{key}[{i}]", item) for i, item in enumerate(items)]


def _ramp(r: _Reader) -> Ramp:
    r.check_keys(("key", "start_s", "duration_s", "to", "from"))
    key = r.choice("key", None, tuple(VITAL_LIMITS))
    lo, hi = VITAL_LIMITS[key]
    return Ramp(
        key=key,
        start_s=r.number("start_s", None, 0.0, 1e7, required=True),
        duration_s=r.number("duration_s", 0.0, 0.0, 1e7),
        to_value=r.number("to", None, lo, hi, required=True),
        from_value=r.optional_number("from", lo, hi),
    )


def _episode(r: _Reader) -> Episode:
    r.check_keys(("rhythm", "start_s", "end_s"))
    rhythm = r.choice("rhythm", None, RHYTHMS)
    start_s = r.number("start_s", None, 0.0, 1e7, required=True)
    end_s = r.number("end_s", None, 0.0, 1e7, required=True)
    if end_s <= start_s:
        r.fail("end_s", end_s, f"a time after start_s = {start_s:g}")
    return Episode(rhythm, start_s, end_s)


def _artifact(r: _Reader) -> Artifact:
    r.check_keys(("kind", "target", "start_s", "end_s", "electrodes", "snr_db", "amplitude"))
    target = r.choice("target", None, ("ecg", "pleth"))
    kind = r.choice("kind", None, ECG_ARTIFACTS if target == "ecg" else PLETH_ARTIFACTS)
    start_s = r.number("start_s", 0.0, 0.0, 1e7)
    end_s = r.number("end_s", math.inf, 0.0, math.inf)
    if end_s <= start_s:
        r.fail("end_s", end_s, f"a time after start_s = {start_s:g}")
    electrodes = r.table.get("electrodes", list(ELECTRODES))
    if target != "ecg" and "electrodes" in r.table:
        r.fail("electrodes", electrodes, "no electrodes on a pleth artifact")
    if (
        not isinstance(electrodes, list)
        or not electrodes
        or any(e not in ELECTRODES for e in electrodes)
    ):
        r.fail("electrodes", electrodes, f"a non-empty list drawn from {list(ELECTRODES)}")
    snr_db = r.optional_number("snr_db", -40.0, 60.0)
    amplitude = r.optional_number("amplitude", 0.0, 1e6)
    needs_level = kind in ("emg", "motion", "wander", "mains", "saturation", "low-perfusion")
    if needs_level and snr_db is None and amplitude is None:
        r.fail("amplitude", None, f"snr_db or amplitude for a {kind!r} artifact")
    if snr_db is not None and (target == "pleth" or kind in ("lead-off", "saturation")):
        r.fail("snr_db", snr_db, f"amplitude (snr_db does not apply to {target} {kind!r})")
    return Artifact(kind, target, start_s, end_s, tuple(electrodes), snr_db, amplitude)


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Check a scenario already read from TOML (a dict) and build it."""
    top = _Reader(source, "", dict(data))
    top.check_keys(_TOP_KEYS)
    name = top.text("name", Path(source).stem)
    subject_r = _Reader(source, "subject", top.table.get("subject", {}))
    subject_r.check_keys(("sex", "age_years", "height_cm"))
    subject = Subject(
        sex=subject_r.choice("sex", "female", ("female", "male")),
        age_years=subject_r.number("age_years", 60.0, 5.0, 110.0),
        height_cm=subject_r.number("height_cm", 170.0, 100.0, 230.0),
    )
    base_r = _Reader(source, "baseline", top.table.get("baseline", {}))
    base_r.check_keys((*VITAL_LIMITS, "rhythm"))
    baseline = {
        key: base_r.number(key, VITAL_DEFAULTS[key], lo, hi)
        for key, (lo, hi) in VITAL_LIMITS.items()
    }
    if baseline["diastolic_mmhg"] >= baseline["systolic_mmhg"]:
        base_r.fail("diastolic_mmhg", baseline["diastolic_mmhg"], "less than systolic_mmhg")
    hrv_r = _Reader(source, "hrv", top.table.get("hrv", {}))
    hrv_r.check_keys(("rr_sd_pct", "lf_hf_ratio", "af_rr_cv_pct", "af_fwave_uv"))
    ect_r = _Reader(source, "ectopy", top.table.get("ectopy", {}))
    ect_r.check_keys(("pvc_per_min", "pac_per_min"))
    spiro_r = _Reader(source, "spirometry", top.table.get("spirometry", {}))
    spiro_r.check_keys(("pattern", "fvc_l", "fev1_l", "pef_lps"))
    spirometry = Spirometry(
        pattern=spiro_r.choice("pattern", "normal", PATTERNS),
        fvc_l=spiro_r.number("fvc_l", 3.8, 0.3, 9.0),
        fev1_l=spiro_r.number("fev1_l", 3.0, 0.2, 8.0),
        pef_lps=spiro_r.optional_number("pef_lps", 0.5, 16.0),
    )
    if not 0.2 <= spirometry.fev1_l / spirometry.fvc_l <= 0.95:
        spiro_r.fail("fev1_l", spirometry.fev1_l, "FEV1/FVC between 0.2 and 0.95")
    return Scenario(
        name=name,
        description=top.text("description", ""),
        duration_s=top.number("duration_s", 600.0, 1.0, 1e7),
        subject=subject,
        baseline=baseline,
        rhythm=base_r.choice("rhythm", "sinus", RHYTHMS),
        hrv=Hrv(
            rr_sd_pct=hrv_r.number("rr_sd_pct", 4.0, 0.0, 20.0),
            lf_hf_ratio=hrv_r.number("lf_hf_ratio", 0.5, 0.0, 10.0),
            af_rr_cv_pct=hrv_r.number("af_rr_cv_pct", 22.0, 5.0, 50.0),
            af_fwave_uv=hrv_r.number("af_fwave_uv", 60.0, 0.0, 300.0),
        ),
        ectopy=Ectopy(
            pvc_per_min=ect_r.number("pvc_per_min", 0.0, 0.0, 30.0),
            pac_per_min=ect_r.number("pac_per_min", 0.0, 0.0, 30.0),
        ),
        ramps=tuple(_ramp(r) for r in _tables(source, top.table, "ramp")),
        episodes=tuple(_episode(r) for r in _tables(source, top.table, "episode")),
        artifacts=tuple(_artifact(r) for r in _tables(source, top.table, "artifact")),
        spirometry=spirometry,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML: {exc}") from exc
    return parse_scenario(data, path.name)


SCENARIO_DIR: Final = Path(__file__).resolve().parent / "scenarios"


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with hwsim (hwsim/scenarios/*.toml)."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def builtin_scenario(name: str) -> Scenario:
    """One of the scenarios shipped in hardware-sim/hwsim/scenarios/, by name (without .toml)."""
    path = SCENARIO_DIR / f"{name}.toml"
    if not path.is_file():
        known = builtin_scenarios()
        raise ScenarioError(f"no built-in scenario {name!r}: expected one of {known}")
    return load_scenario(path)
