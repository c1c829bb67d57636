"""``helserom export SESSION --format fhir``: a session as a FHIR R4 Bundle (JSON).

Reads the store read-only, so it works while the gateway runs. Exit 2 with one line for an
unknown session, a bad config or an unreadable database.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from gateway import settings as settings_mod
from gateway.export import ExportError, export_fhir, read_session_file

EXIT_BAD_INPUT = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def export(
    session: Annotated[str, typer.Argument(help="session id (UUID)")],
    fmt: Annotated[
        Literal["fhir"], typer.Option("--format", help="export format (fhir: FHIR R4 Bundle)")
    ] = "fhir",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Export a session (FHIR R4 transaction Bundle as JSON)."""
    try:
        settings = settings_mod.load(config)
    except settings_mod.ConfigError as exc:
        raise _fail(f"{exc.path}: {'; '.join(exc.problems)}") from None
    try:
        data = read_session_file(settings.store_path, session, waveforms=settings.export.waveforms)
        if data is None:
            raise _fail(f"no session {session!r} in {settings.store_path}")
        bundle = export_fhir(data, settings, time.time())
    except ExportError as exc:
        raise _fail(str(exc)) from None
    text = json.dumps(bundle, ensure_ascii=False, allow_nan=False)
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{output}: cannot write: {exc.strerror}") from None
