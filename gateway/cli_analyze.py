"""``helserom analyze``: run the gateway's own signal analysis on recordings (CSV in, JSON out).

For clinical engineers checking recordings: the same streaming analyzers the room runs, fed in
blocks. Exit 2 with a one-line error for a bad file or option.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.recordings import RecordingError, read_csv
from gateway.signals.ecg import analyze_ecg_cli
from gateway.signals.ppg import analyze_ppg
from gateway.signals.spiro import analyze_spiro

analyze_app = typer.Typer(
    help="Analyse recordings with the gateway's signal engine (prints JSON).",
    no_args_is_help=True,
)

FsOpt = Annotated[float, typer.Option("--fs", help="sampling rate in Hz", min=1.0)]
EXIT_BAD_INPUT = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _print(result: dict[str, Any]) -> None:
    typer.echo(json.dumps(result, ensure_ascii=False, allow_nan=False))


@analyze_app.command("spiro")
def spiro(
    *,
    fs: FsOpt,
    inputs: Annotated[
        list[Path],
        typer.Option("--input", "-i", help="one CSV per manoeuvre, column flow_lps (L/s, out +)"),
    ],
    sex: Annotated[str | None, typer.Option(help="male or female (for reference values)")] = None,
    age: Annotated[float | None, typer.Option(help="age in years")] = None,
    height_cm: Annotated[float | None, typer.Option("--height-cm", help="height in cm")] = None,
    reference: Annotated[str, typer.Option(help="gli2012 or gli-global-2022")] = "gli2012",
) -> None:
    """Spirometry session per ATS/ERS 2019: FEV1, FVC, … per manoeuvre, grades, GLI values."""
    try:
        flows = [read_csv(path).column("flow_lps")[1] for path in inputs]
    except RecordingError as exc:
        raise _fail(str(exc)) from None
    patient = (sex, age, height_cm)
    if any(v is not None for v in patient) and not all(v is not None for v in patient):
        raise _fail("reference values need all of --sex, --age and --height-cm")
    started = time.perf_counter()
    try:
        result = analyze_spiro(
            flows,
            fs,
            sex=sex,
            age_y=age,
            height_cm=height_cm,
            reference=reference,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    result["compute_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    _print(result)


InputOpt = Annotated[Path, typer.Option("--input", "-i", help="CSV file with a header row")]


@analyze_app.command("ecg")
def ecg(
    fs: FsOpt,
    input_path: InputOpt,
    lead: Annotated[
        str | None, typer.Option(help="lead to analyse (default II, else first)")
    ] = None,
) -> None:
    """ECG: R peaks, heart rate and signal quality of one lead (CSV of leads in mV)."""
    try:
        rec = read_csv(input_path)
        result = analyze_ecg_cli(rec.values, list(rec.names), fs, lead)
    except (RecordingError, ValueError) as exc:
        raise _fail(str(exc)) from None
    _print(result)


@analyze_app.command("ppg")
def ppg(
    fs: FsOpt,
    input_path: InputOpt,
    has_dc: Annotated[
        bool, typer.Option("--has-dc", help="the pleth keeps its DC level (raw photodiode)")
    ] = False,
) -> None:
    """Pleth: pulses, pulse rate, perfusion index and quality (CSV column pleth, or the first)."""
    try:
        rec = read_csv(input_path)
        _name, x = rec.column(None, default="pleth")
        result = analyze_ppg(x, fs, has_dc=has_dc)
    except (RecordingError, ValueError) as exc:
        raise _fail(str(exc)) from None
    _print(result)
