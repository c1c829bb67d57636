"""The ``helserom`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from drivers.codecs import describe
from drivers.devices.ble_profiles import SERVICE_KINDS
from drivers.errors import CodecError, TransportError
from drivers.transports.ble import scan as ble_scan
from gateway.cli_analyze import analyze_app
from gateway.cli_common import ConfigOpt, load_or_exit
from gateway.cli_export import export as export_command
from gateway.cli_export import report as report_command
from gateway.cli_security import audit_app, doctor, pin_app
from gateway.runtime import serve
from gateway.simroom import run_sim_forever
from webrtc.errors import WebRtcError

app = typer.Typer(
    name="helserom",
    help="Helserom Gateway: the health room's edge software.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Work with config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(analyze_app, name="analyze")
app.add_typer(audit_app, name="audit")
app.add_typer(pin_app, name="pin")
app.command()(doctor)
app.command("export")(export_command)
app.command("report")(report_command)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )


DemoOpt = Annotated[
    bool,
    typer.Option(
        "--demo-session",
        help="start a live session and print one single-use 'Specialist link: …' to join it",
    ),
]


@app.command()
def run(config: ConfigOpt = None, demo_session: DemoOpt = False) -> None:
    """Start the gateway (and the simulated room when [sim] is enabled)."""
    cfg = load_or_exit(config)
    _setup_logging(cfg.gateway.log_level)

    def ready(url: str) -> None:
        typer.echo(f"Helserom Gateway kjører / is running. Kiosk: {url}", err=False)
        sys.stdout.flush()

    def demo(link: str) -> None:
        typer.echo(f"Specialist link: {link}")
        sys.stdout.flush()

    try:
        asyncio.run(serve(cfg, on_ready=ready, on_demo_link=demo if demo_session else None))
    except OSError as exc:
        typer.echo(f"error: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except WebRtcError as exc:  # loopback switch outside a test netns, encoder missing
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="config file to check")]) -> None:
    """Exit 0 if FILE is a valid config; else print each problem (key, value, expected), exit 2."""
    load_or_exit(file)
    typer.echo(f"{file}: ok")


@app.command()
def decode(
    codec: Annotated[str, typer.Argument(help="codec name, e.g. serial.nonin2")],
    hex_bytes: Annotated[str, typer.Argument(metavar="HEX", help="bytes in hex (spaces allowed)")],
) -> None:
    """Decode bytes with a device codec and print JSON (exit 2 with a one-line error)."""
    try:
        data = bytes.fromhex(hex_bytes.replace(":", " ").replace("0x", " "))
    except ValueError as exc:
        typer.echo(f"error: HEX is not hexadecimal: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        result = describe(codec, data)
    except CodecError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # never a traceback, whatever the bytes
        typer.echo(f"error: internal decoder error ({type(exc).__name__}: {exc})", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(result, ensure_ascii=False, allow_nan=False, default=str))


@app.command()
def scan(
    seconds: Annotated[float, typer.Option("--seconds", "-t", help="how long to listen")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """List Bluetooth LE devices in range: address, kind, RSSI, paired, name."""
    try:
        adverts = asyncio.run(ble_scan(seconds))
    except TransportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for adv in adverts:
        kind = next((SERVICE_KINDS[u] for u in adv.service_uuids if u in SERVICE_KINDS), None)
        row = {
            "address": adv.address,
            "kind": kind,
            "rssi_dbm": adv.rssi_dbm,
            "paired": adv.paired,
            "name": adv.name,
            "uri": f"ble://{adv.address}?profile={kind}" if kind else None,
        }
        if as_json:
            typer.echo(json.dumps(row, ensure_ascii=False))
        else:
            rssi = "" if adv.rssi_dbm is None else f"{adv.rssi_dbm} dBm"
            paired = {True: "paired", False: "not paired", None: ""}[adv.paired]
            typer.echo(f"{adv.address}  {kind or '-':12} {rssi:>8}  {paired:10}  {adv.name or ''}")
    if not adverts:
        typer.echo("no Bluetooth LE devices found", err=True)


@app.command()
def sim(config: ConfigOpt = None) -> None:
    """Run only the simulated room of a config's [sim] section, until Ctrl-C."""
    cfg = load_or_exit(config)
    _setup_logging(cfg.gateway.log_level)
    asyncio.run(run_sim_forever(cfg.sim))
