"""``helserom export SESSION --format fhir`` (FHIR R4 Bundle) and ``helserom report SESSION``
(the printable summary).

Reads the store read-only, so it works while the gateway runs. Exit 2 with one line for an
unknown session, a bad config or an unreadable database.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from gateway import settings as settings_mod
from gateway.export import ExportError, export_fhir, read_session_file, with_store_file
from gateway.report_io import ReportError, html_to_pdf, report_html

EXIT_BAD_INPUT = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


SessionArg = Annotated[str, typer.Argument(help="session id (UUID)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file")]


def _settings(config: Path | None) -> settings_mod.Settings:
    try:
        return settings_mod.load(config)
    except settings_mod.ConfigError as exc:
        raise _fail(f"{exc.path}: {'; '.join(exc.problems)}") from None


def _write(output: Path, data: bytes) -> None:
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise _fail(f"{output}: cannot write: {exc.strerror}") from None


def export(
    session: SessionArg,
    fmt: Annotated[
        Literal["fhir"], typer.Option("--format", help="export format (fhir: FHIR R4 Bundle)")
    ] = "fhir",
    config: ConfigOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Export a session (FHIR R4 transaction Bundle as JSON)."""
    settings = _settings(config)
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
    _write(output, (text + "\n").encode())


def report(
    session: SessionArg,
    fmt: Annotated[
        Literal["html", "pdf"], typer.Option("--format", help="html, or pdf printed by Chromium")
    ] = "html",
    config: ConfigOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here (pdf: required)")
    ] = None,
) -> None:
    """The session summary, printable on A4 (HTML or PDF)."""
    settings = _settings(config)
    if fmt == "pdf" and output is None:
        raise _fail("--format pdf needs --output FILE")
    try:
        page = with_store_file(
            settings.store_path, lambda db: report_html(db, session, settings, time.time())
        )
        if page is None:
            raise _fail(f"no session {session!r} in {settings.store_path}")
        data = page.encode() if fmt == "html" else asyncio.run(html_to_pdf(page))
    except (ExportError, ReportError) as exc:
        raise _fail(str(exc)) from None
    if output is None:
        typer.echo(page)
        return
    _write(output, data)
