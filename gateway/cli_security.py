"""``helserom doctor``, ``helserom audit verify`` and ``helserom pin hash``."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from gateway.audit import AUDIT_FILE, verify
from gateway.cli_common import EXIT_CONFIG, ConfigOpt, load_or_exit
from gateway.doctor import Level, run_checks
from gateway.pin import hash_pin

audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
pin_app = typer.Typer(help="The nurse's kiosk PIN.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    config: ConfigOpt = None,
    file: Annotated[Path | None, typer.Option("--file", help="audit.sqlite3 to check")] = None,
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="SEQ:HASH kept off the box (the MQTT health message's audit head); repeatable",
        ),
    ] = None,
) -> None:
    """Walk the hash chain; exit 0 if it holds, 1 naming the first broken row."""
    path = file or load_or_exit(config).gateway.state_dir / AUDIT_FILE
    anchors: list[tuple[int, str]] = []
    for text in anchor or []:
        seq, _, digest = text.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            typer.echo(
                f"error: --anchor: got {text!r}, expected SEQ:HASH (64 hex digits)", err=True
            )
            raise typer.Exit(EXIT_CONFIG)
        anchors.append((int(seq), digest))
    try:
        result = verify(path, anchors)
    except (FileNotFoundError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    if result.ok:
        held = f", {len(anchors)} off-box anchors hold" if anchors else ""
        typer.echo(f"{path}: ok, {result.rows} rows, chain intact{held}")
        return
    typer.echo(
        f"{path}: BROKEN at row {result.first_bad_seq}: {result.reason} "
        f"({result.rows} rows before it are intact)",
        err=True,
    )
    raise typer.Exit(1)


@pin_app.command("hash")
def pin_hash() -> None:
    """Read a PIN (twice) and print its scrypt hash for [security] pin_hash or a credential."""
    pin = getpass.getpass("PIN: ")
    if getpass.getpass("PIN again: ") != pin:
        typer.echo("error: the PINs differ", err=True)
        raise typer.Exit(EXIT_CONFIG)
    try:
        typer.echo(hash_pin(pin))
    except ValueError as exc:
        typer.echo(f"error: expected {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def doctor(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Check BlueZ, devices, cameras, clock, certificates and disk; exit 1 on any FAIL."""
    checks = run_checks(load_or_exit(config))
    if as_json:
        rows = [
            {"name": c.name, "level": c.level.name, "detail": c.detail, "fix": c.fix}
            for c in checks
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
    else:
        for c in checks:
            typer.echo(f"{c.level.name:4} {c.name:20} {c.detail}")
            if c.level != Level.OK and c.fix:
                typer.echo(f"     {'':20} → {c.fix}")
    if any(c.level == Level.FAIL for c in checks):
        raise typer.Exit(1)
