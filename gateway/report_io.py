"""The session summary from the store: HTML, and PDF printed by headless Chromium.

Chromium is already on the room's image (the kiosk runs it); it prints the self-contained HTML
with ``--print-to-pdf`` (A4, from the page's ``@page`` rule). No network: the page has no
external references, and Chromium runs with background networking off.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from gateway import records
from gateway.export import ExportError, export_options, read_session
from gateway.report import ParticipantRow, render_report
from gateway.settings import Settings

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
PDF_TIMEOUT_S = 60.0


class ReportError(Exception):
    """The report cannot be made (unknown session, no Chromium for the PDF, …)."""


def read_participants(db: sqlite3.Connection, session_id: str) -> list[ParticipantRow]:
    """The session's remote participants, in invitation order."""
    rows = db.execute(
        "SELECT role, name, redeemed_wall_s, removed_wall_s FROM participant "
        "WHERE session_id = ? ORDER BY id",
        (session_id,),
    ).fetchall()
    return [ParticipantRow(*r) for r in rows]


def report_html(
    db: sqlite3.Connection, session_id: str, settings: Settings, now_wall_s: float
) -> str | None:
    """The summary of one session (None if there is no such session)."""
    data = read_session(db, session_id, waveforms=False)  # spirometry needs only the flow
    if data is None:
        return None
    try:
        options = export_options(settings, now_wall_s)
    except ExportError as exc:
        raise ReportError(str(exc)) from None
    return render_report(
        data,
        site=settings.gateway.site,
        room=settings.gateway.room,
        participants=read_participants(db, session_id),
        careplan=options.careplan,
        reference=options.reference,
        generated_wall_s=now_wall_s,
        snapshots=records.snapshots_with_jpeg(db, session_id) if _v6(db) else (),
        notes=records.list_notes(db, session_id) if _v6(db) else (),
    )


def _v6(db: sqlite3.Connection) -> bool:
    """A store file not yet opened by a v6 gateway has no snapshot and note tables."""
    return int(db.execute("PRAGMA user_version").fetchone()[0]) >= 6


def chromium_path() -> str:
    """The Chromium to print with (HELSEROM_CHROMIUM overrides the search)."""
    explicit = os.environ.get("HELSEROM_CHROMIUM")
    found = explicit or next((p for p in (shutil.which(c) for c in CHROMIUM_CANDIDATES) if p), None)
    if not found:
        raise ReportError("no Chromium to print the PDF with (apt-get install chromium)")
    return found


async def html_to_pdf(page: str) -> bytes:
    """Print an HTML page to PDF with headless Chromium (A4 from the page's @page rule)."""
    browser = chromium_path()
    with tempfile.TemporaryDirectory(prefix="helserom-report-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(page, encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            src.as_uri(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), PDF_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ReportError(
                f"Chromium did not print the PDF within {PDF_TIMEOUT_S:.0f} s"
            ) from None
        if proc.returncode != 0 or not out.is_file():
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise ReportError(
                f"Chromium could not print the PDF (exit {proc.returncode}): {tail[0]}"
            )
        return out.read_bytes()
