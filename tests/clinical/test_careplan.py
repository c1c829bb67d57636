"""Care-plan traffic lights: bands, boundaries, load errors, trend rules."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from drivers.model import Quantity
from gateway.clinical.careplan import CarePlan, CarePlanError, Colour, Direction, load_careplan
from gateway.clinical.news2 import Spo2Scale
from gateway.signals.verdict import Assessed, Verdict

EXAMPLE = Path(__file__).parents[2] / "config" / "careplans" / "example.toml"
DAY_S = 86400.0

HEADER = """
[plan]
id = "t"
label_nb = "Test"
label_en = "Test"
"""

SPO2 = (
    HEADER
    + """
[quantities.spo2]
unit = "%"
bands = [
  { light = "red", below = 90, label_nb = "rød", label_en = "red" },
  { light = "yellow", from = 90, below = 94, label_nb = "gul", label_en = "yellow" },
  { light = "green", from = 94, label_nb = "grønn", label_en = "green" },
]
"""
)


def spo2_plan_with(bands: str) -> str:
    return HEADER + f'\n[quantities.spo2]\nunit = "%"\nbands = [\n{bands}\n]\n'


@pytest.fixture
def plan() -> CarePlan:
    return load_careplan(SPO2)


@pytest.mark.parametrize(
    ("value", "colour"),
    [
        (50, Colour.RED),
        (89, Colour.RED),
        (89.99, Colour.RED),
        (90, Colour.YELLOW),
        (93, Colour.YELLOW),
        (93.5, Colour.YELLOW),
        (94, Colour.GREEN),
        (100, Colour.GREEN),
    ],
)
def test_band_boundaries(plan: CarePlan, value: float, colour: Colour) -> None:
    light = plan.light(Quantity.SPO2, value)
    assert light is not None
    assert light.colour is colour
    assert light.questionable is False
    assert light.quantity is Quantity.SPO2
    assert plan.light("spo2", Assessed(float(value), Verdict.VALID)) == light


def test_labels(plan: CarePlan) -> None:
    light = plan.light("spo2", 91)
    assert light is not None
    assert (light.band.label_nb, light.band.label_en) == ("gul", "yellow")
    assert (light.band.lower, light.band.upper) == (90.0, 94.0)


def test_questionable_gets_colour_and_flag(plan: CarePlan) -> None:
    light = plan.light("spo2", Assessed(88.0, Verdict.QUESTIONABLE))
    assert light is not None
    assert light.colour is Colour.RED
    assert light.questionable is True


@pytest.mark.parametrize(
    "value",
    [
        Assessed(math.nan, Verdict.INVALID),
        Assessed(97.0, Verdict.INVALID),  # a number, but INVALID: still no colour
        math.nan,
        math.inf,
        -math.inf,
    ],
)
def test_invalid_never_gets_a_colour(plan: CarePlan, value: Assessed | float) -> None:
    assert plan.light("spo2", value) is None


def test_quantity_without_bands_has_no_light(plan: CarePlan) -> None:
    assert plan.light(Quantity.BODY_WEIGHT, 80.0) is None


def test_example_plan_loads() -> None:
    plan = load_careplan(EXAMPLE)
    assert plan.plan_id == "example-hf-copd"
    assert set(plan.bands) == {
        Quantity.SPO2,
        Quantity.PULSE_RATE,
        Quantity.BP_SYSTOLIC,
        Quantity.BODY_TEMPERATURE,
        Quantity.RESPIRATION_RATE,
    }
    assert len(plan.trends) == 3
    for bands in plan.bands.values():
        assert bands[0].lower == -math.inf
        assert bands[-1].upper == math.inf
        for below, above in itertools.pairwise(bands):
            assert below.upper == above.lower

    def colour(key: str, value: float) -> Colour:
        light = plan.light(key, value)
        assert light is not None
        return light.colour

    assert colour("spo2", 87) is Colour.RED
    assert colour("spo2", 88) is Colour.YELLOW
    assert colour("spo2", 92) is Colour.GREEN
    assert colour("pulse_rate", 100) is Colour.GREEN
    assert colour("pulse_rate", 101) is Colour.YELLOW
    assert colour("pulse_rate", 121) is Colour.RED
    assert colour("body_temperature", 37.9) is Colour.GREEN
    assert colour("body_temperature", 38.0) is Colour.YELLOW


# --- load errors: exact messages ------------------------------------------------------

BAND_ERRORS = [
    (
        # gap: yellow ends at 94, green starts at 95
        '{ light = "yellow", below = 94, label_nb = "g", label_en = "y" },\n'
        '{ light = "green", from = 95, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[1].from: expected 94 (the previous band's below; "
        "bands must not gap), got 95",
    ),
    (
        # overlap: yellow up to 94, green from 93
        '{ light = "yellow", below = 94, label_nb = "g", label_en = "y" },\n'
        '{ light = "green", from = 93, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[1].from: expected 94 (the previous band's below; "
        "bands must not overlap), got 93",
    ),
    (
        '{ light = "red", from = 80, below = 90, label_nb = "r", label_en = "r" },\n'
        '{ light = "green", from = 90, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[0].from: expected no lower limit on the first band, got 80",
    ),
    (
        '{ light = "red", below = 90, label_nb = "r", label_en = "r" },\n'
        '{ light = "green", from = 90, below = 100, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[1].below: expected no upper limit on the last band, got 100",
    ),
    (
        '{ light = "red", below = 90, label_nb = "r", label_en = "r" },\n'
        '{ light = "green", label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[1].from: expected the previous band's below (90), got None",
    ),
    (
        '{ light = "red", below = 90, label_nb = "r", label_en = "r" },\n'
        '{ light = "yellow", from = 90, label_nb = "g", label_en = "g" },\n'
        '{ light = "green", from = 94, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[1].below: expected an upper limit (only the last band is open), "
        "got None",
    ),
    (
        '{ light = "red", below = 90, label_nb = "r", label_en = "r" },\n'
        '{ light = "yellow", from = 90, below = 90, label_nb = "g", label_en = "g" },\n'
        '{ light = "green", from = 90, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[1].below: expected a value above from (90), got 90",
    ),
    (
        '{ light = "amber", below = 90, label_nb = "r", label_en = "r" },\n'
        '{ light = "green", from = 90, label_nb = "g", label_en = "g" },',
        'quantities.spo2.bands[0].light: expected "green", "yellow" or "red", got \'amber\'',
    ),
    (
        '{ light = "red", below = 0.9, label_nb = "r", label_en = "r" },\n'
        '{ light = "green", from = 0.9, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[0].below: expected a value in % between 50 and 100, got 0.9",
    ),
    (
        '{ light = "red", below = "90", label_nb = "r", label_en = "r" },\n'
        '{ light = "green", from = 90, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[0].below: expected a finite number, got '90'",
    ),
    (
        '{ light = "red", below = 90, label_en = "r" },\n'
        '{ light = "green", from = 90, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[0].label_nb: expected a non-empty string, got None",
    ),
    (
        '{ light = "red", below = 90, label_nb = "r", label_en = "r", colour = "x" },\n'
        '{ light = "green", from = 90, label_nb = "g", label_en = "g" },',
        "quantities.spo2.bands[0].colour: expected one of "
        "['below', 'from', 'label_en', 'label_nb', 'light'], got 'x'",
    ),
]


@pytest.mark.parametrize(("bands", "message"), BAND_ERRORS)
def test_band_errors(bands: str, message: str) -> None:
    with pytest.raises(CarePlanError) as info:
        load_careplan(spo2_plan_with(bands))
    assert str(info.value) == message


def test_error_carries_key_value_expected() -> None:
    with pytest.raises(CarePlanError) as info:
        load_careplan(HEADER + '[quantities.blood_sugar]\nunit = "mmol/L"\nbands = []\n')
    err = info.value
    assert err.key == "quantities.blood_sugar"
    assert err.value == "blood_sugar"
    assert err.expected.startswith("a quantity key, one of ['body_temperature', 'body_weight'")
    assert isinstance(err, ValueError)


def test_unit_must_fit_quantity() -> None:
    text = SPO2.replace('unit = "%"', 'unit = "kg"')
    with pytest.raises(CarePlanError) as info:
        load_careplan(text)
    assert str(info.value) == ("quantities.spo2.unit: expected \"%\" (UCUM unit of spo2), got 'kg'")


def test_fahrenheit_temperature_caught() -> None:
    text = HEADER + (
        '[quantities.body_temperature]\nunit = "Cel"\nbands = [\n'
        '{ light = "green", below = 100.4, label_nb = "g", label_en = "g" },\n'
        '{ light = "red", from = 100.4, label_nb = "r", label_en = "r" },\n]\n'
    )
    with pytest.raises(CarePlanError) as info:
        load_careplan(text)
    assert str(info.value) == (
        "quantities.body_temperature.bands[0].below: expected a value in Cel between 30 and 45, "
        "got 100.4"
    )


def test_plan_header_errors() -> None:
    with pytest.raises(CarePlanError) as info:
        load_careplan('[plan]\nid = "x"\nlabel_nb = "x"\n')
    assert str(info.value) == "plan.label_en: expected a non-empty string, got None"
    with pytest.raises(CarePlanError) as info:
        load_careplan("[quantities]\n")
    assert str(info.value) == "plan: expected a table, got None"
    with pytest.raises(CarePlanError) as info:
        load_careplan(HEADER + "[extra]\n")
    assert (
        str(info.value)
        == "<top>.extra: expected one of ['news2', 'plan', 'quantities', 'trends'], got {}"
    )


def test_toml_syntax_error() -> None:
    with pytest.raises(CarePlanError) as info:
        load_careplan("[plan\n")
    assert info.value.key == "<text>"
    assert info.value.expected == "valid TOML"


def test_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(SPO2, encoding="utf-8")
    assert load_careplan(path) == load_careplan(SPO2)


# --- trends ---------------------------------------------------------------------------

WEIGHT_RULES = (
    HEADER
    + """
[[trends]]
quantity = "body_weight"
unit = "kg"
rise = 2.0
within_days = 3
light = "yellow"
label_nb = "Opp 2 kg på 3 dager"
label_en = "Up 2 kg within 3 days"

[[trends]]
quantity = "body_weight"
unit = "kg"
rise = 3.0
within_days = 3
light = "red"
label_nb = "Opp 3 kg på 3 dager"
label_en = "Up 3 kg within 3 days"

[[trends]]
quantity = "spo2"
unit = "%"
fall = 3
within_hours = 48
light = "yellow"
label_nb = "Ned 3 på 2 døgn"
label_en = "Down 3 within 2 days"
"""
)


@pytest.fixture
def trend_plan() -> CarePlan:
    return load_careplan(WEIGHT_RULES)


def test_weight_rise_fires_yellow(trend_plan: CarePlan) -> None:
    history = [(0.0, 80.0), (DAY_S, 80.6), (2 * DAY_S, 81.4), (3 * DAY_S, 82.0)]
    alerts = trend_plan.trend("body_weight", history)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.colour is Colour.YELLOW
    assert alert.rule.direction is Direction.RISE
    assert (alert.from_time_s, alert.from_value) == (0.0, 80.0)
    assert (alert.to_time_s, alert.to_value) == (3 * DAY_S, 82.0)
    assert alert.change == pytest.approx(2.0)
    assert alert.questionable is False


def test_weight_rise_both_rules_most_severe_first(trend_plan: CarePlan) -> None:
    alerts = trend_plan.trend(Quantity.BODY_WEIGHT, [(0.0, 80.0), (2 * DAY_S, 83.1)])
    assert [a.colour for a in alerts] == [Colour.RED, Colour.YELLOW]


@pytest.mark.parametrize(
    "history",
    [
        [(0.0, 80.0), (3 * DAY_S, 81.9)],  # 1.9 kg: below the rule
        [(0.0, 80.0), (3 * DAY_S + 1, 82.5)],  # 2.5 kg but over 3 days apart
        [(0.0, 80.0), (DAY_S, 82.5), (2 * DAY_S, 81.0)],  # rose, but the newest is back down
        [(0.0, 82.0), (DAY_S, 80.0)],  # a fall, and only rises are watched
        [(0.0, 80.0)],  # one value: no trend
        [],
    ],
)
def test_weight_rule_does_not_fire(
    trend_plan: CarePlan, history: list[tuple[float, float]]
) -> None:
    assert trend_plan.trend("body_weight", history) == []


def test_trend_window_edge_inclusive(trend_plan: CarePlan) -> None:
    assert len(trend_plan.trend("body_weight", [(0.0, 80.0), (3 * DAY_S, 82.0)])) == 1


def test_trend_uses_lowest_value_in_window(trend_plan: CarePlan) -> None:
    # 4 days ago 78 kg is outside; within the window the lowest is 79.5
    history = [(0.0, 78.0), (DAY_S, 79.5), (2 * DAY_S, 80.5), (4 * DAY_S, 81.6)]
    alerts = trend_plan.trend("body_weight", history)
    assert [a.colour for a in alerts] == [Colour.YELLOW]
    assert alerts[0].from_value == 79.5


def test_trend_skips_invalid_and_sorts(trend_plan: CarePlan) -> None:
    history: list[tuple[float, Assessed | float]] = [
        (3 * DAY_S, Assessed(82.0, Verdict.VALID)),
        (2 * DAY_S, Assessed(math.nan, Verdict.INVALID)),
        (0.0, 80.0),
        (DAY_S, Assessed(70.0, Verdict.INVALID)),  # would fire red if it were used
    ]
    alerts = trend_plan.trend("body_weight", history)
    assert [a.colour for a in alerts] == [Colour.YELLOW]
    assert alerts[0].from_value == 80.0


def test_invalid_newest_value_gives_no_alert_from_it(trend_plan: CarePlan) -> None:
    history: list[tuple[float, Assessed | float]] = [
        (0.0, 80.0),
        (DAY_S, 80.5),
        (2 * DAY_S, Assessed(90.0, Verdict.INVALID)),
    ]
    assert trend_plan.trend("body_weight", history) == []


def test_trend_questionable_flag(trend_plan: CarePlan) -> None:
    history: list[tuple[float, Assessed | float]] = [
        (0.0, 80.0),
        (DAY_S, Assessed(82.2, Verdict.QUESTIONABLE)),
    ]
    alerts = trend_plan.trend("body_weight", history)
    assert alerts[0].questionable is True


def test_spo2_fall_rule(trend_plan: CarePlan) -> None:
    hour_s = 3600.0
    fired = trend_plan.trend("spo2", [(0.0, 95.0), (24 * hour_s, 94.0), (48 * hour_s, 92.0)])
    assert [a.colour for a in fired] == [Colour.YELLOW]
    assert fired[0].change == -3.0
    assert trend_plan.trend("spo2", [(0.0, 95.0), (48 * hour_s, 93.0)]) == []
    assert trend_plan.trend("spo2", [(0.0, 95.0), (49 * hour_s, 90.0)]) == []


TREND_ERRORS = [
    (
        'quantity = "weight"\nunit = "kg"\nrise = 2\nwithin_days = 3\nlight = "red"',
        "trends[0].quantity: expected a quantity key",
    ),
    (
        'quantity = "body_weight"\nunit = "lb"\nrise = 2\nwithin_days = 3\nlight = "red"',
        "trends[0].unit: expected \"kg\" (UCUM unit of body_weight), got 'lb'",
    ),
    (
        'quantity = "body_weight"\nunit = "kg"\nwithin_days = 3\nlight = "red"',
        "trends[0].rise: expected exactly one of rise or fall, got None",
    ),
    (
        'quantity = "body_weight"\nunit = "kg"\nrise = 2\nfall = 1\nwithin_days = 3\nlight = "red"',
        "trends[0].rise: expected exactly one of rise or fall, got 2",
    ),
    (
        'quantity = "body_weight"\nunit = "kg"\nrise = -2\nwithin_days = 3\nlight = "red"',
        "trends[0].rise: expected a positive change, got -2",
    ),
    (
        'quantity = "body_weight"\nunit = "kg"\nrise = 2\nlight = "red"',
        "trends[0].within_days: expected exactly one of within_days or within_hours, got None",
    ),
    (
        'quantity = "body_weight"\nunit = "kg"\nrise = 2\nwithin_hours = 0\nlight = "red"',
        "trends[0].within_hours: expected a positive duration, got 0",
    ),
]


@pytest.mark.parametrize(("rule", "message"), TREND_ERRORS)
def test_trend_errors(rule: str, message: str) -> None:
    text = HEADER + f'[[trends]]\n{rule}\nlabel_nb = "x"\nlabel_en = "x"\n'
    with pytest.raises(CarePlanError) as info:
        load_careplan(text)
    assert str(info.value).startswith(message)


def test_news2_spo2_scale_from_the_plan() -> None:
    assert load_careplan(EXAMPLE).spo2_scale is Spo2Scale.SCALE_1  # not said: scale 1
    assert load_careplan(HEADER + "[news2]\nspo2_scale = 2\n").spo2_scale is Spo2Scale.SCALE_2
    for bad in ("3", "true", '"2"'):
        with pytest.raises(CarePlanError) as info:
            load_careplan(HEADER + f"[news2]\nspo2_scale = {bad}\n")
        assert info.value.key == "news2.spo2_scale"
        assert info.value.expected == "1 or 2 (2: target 88–92 %, RCP 2017)"
    with pytest.raises(CarePlanError) as info:
        load_careplan(HEADER + "[news2]\nscale = 2\n")
    assert info.value.key == "news2.scale"
