"""The session summary (HTML and a real Chromium PDF) from a real store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from gateway.api import create_app
from gateway.auth import KioskAuth
from gateway.cli import app
from gateway.export import with_store_file
from gateway.health import GatewayContext, LoopMonitor
from gateway.live import LiveHub
from gateway.pipeline import Pipeline
from gateway.report_io import report_html
from gateway.sessions import Role, SessionManager
from gateway.settings import load
from gateway.store import Store
from tests.gateway.test_fhir_fixtures import CAREPLAN, make_spiro_session, make_vitals_session


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(
        f'[gateway]\nstate_dir = "{tmp_path}"\nsite = "bygdeby"\nroom = "rom-1"\n'
        f'[clinical]\ncareplan = "{CAREPLAN}"\n',
        encoding="utf-8",
    )
    return path


class _Cells(HTMLParser):
    """Table rows as lists of cell texts, and whether the page has a script."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.scripts = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _rows(page: str) -> tuple[list[list[str]], int]:
    parser = _Cells()
    parser.feed(page)
    return parser.rows, parser.scripts


async def test_vitals_summary_lists_values_with_verdicts_and_lights(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = load(config)
    sid = await make_vitals_session(settings.store_path)
    page = with_store_file(settings.store_path, lambda db: report_html(db, sid, settings, 0.0))
    assert page is not None
    rows, scripts = _rows(page)
    assert scripts == 0 and 'lang="nb"' in page and "PSN-0042" in page
    spo2 = [r for r in rows if r and r[1].startswith("Oksygenmetning")]
    assert [r[2] for r in spo2] == ["95 %", "89 %", "85 %", "– %"]
    assert [r[3] for r in spo2] == ["Pålitelig", "Usikker verdi"] + ["Kan ikke brukes"] * 2
    assert spo2[0][4].startswith("Grønt") and spo2[1][4].startswith("Gult")
    assert spo2[2][4] == "" and spo2[3][4] == ""  # never a colour for an invalid value
    temperature = next(r for r in rows if r and r[1].startswith("Kroppstemperatur"))
    assert temperature[2] == "38,4 °C"  # decimal comma, units as people write them
    assert "Spirometri" not in page


async def test_spirometry_summary_has_grades_reference_and_curves(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = load(config)
    patient = {"pseudonym": "P-1", "sex": "male", "age_y": 50, "height_cm": 180}
    # what the kiosk's consent step adds (PUT /api/v1/session/patient): 2026-01-05 10:30 Oslo
    patient |= {"birth_year": 1975, "consent": True, "consent_s": 1767605400.0}
    sid = await make_spiro_session(settings.store_path, patient)
    async with Store(settings.store_path) as store:  # a participant who joined, one who did not
        sm = SessionManager(store)
        store.db.execute(
            "UPDATE session SET state = 'live', ended_wall_s = NULL WHERE id = ?", (sid,)
        )
        await sm.resume()
        invite = await sm.invite(Role.SPECIALIST, name="Dr. Lunge", admit=True)
        await sm.redeem(invite.token)
        await sm.invite(Role.GP)
        await sm.end()
    page = with_store_file(settings.store_path, lambda db: report_html(db, sid, settings, 0.0))
    assert page is not None
    rows, _ = _rows(page)
    blows = [r for r in rows if r and re.fullmatch(r"\d( ★)?", r[0])]
    assert len(blows) == 3 and sum("★" in r[0] for r in blows) == 1
    assert all(r[5] == "ja / yes" and r[6] == "ja / yes" for r in blows)
    assert "FEV1 <b>A</b>" in page and "FVC <b>A</b>" in page
    ref = next(r for r in rows if r and r[0] == "FEV1 (L)")
    assert re.fullmatch(r"\d,\d\d", ref[1]) and re.fullmatch(r"-?\d,\d\d", ref[3])
    assert page.count("<polyline") == 3  # one flow-volume curve per blow
    assert "Spesialist" in page and "Dr. Lunge" in page and "kom ikke / did not join" in page
    assert "<li>birth_year: 1975</li>" in page
    assert re.search(r"Samtykke til videokonsultasjon[^<]*05\.01\.2026 10:30</li>", page)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    config = _config(tmp_path)
    settings = load(config)
    sid = await make_vitals_session(settings.store_path)
    auth = KioskAuth.load_or_create(tmp_path)
    async with Store(settings.store_path) as store:
        pipeline = Pipeline(settings.pipeline, store, LiveHub(8), [])
        ctx = GatewayContext(settings, pipeline, pipeline.hub, LoopMonitor())
        transport = httpx.ASGITransport(app=create_app(ctx, auth, SessionManager(store)))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            yield c, auth.token, sid


async def test_api_serves_html_and_a_real_pdf(
    client: tuple[httpx.AsyncClient, str, str],
) -> None:
    c, token, sid = client
    url = f"/api/v1/sessions/{sid}/report"
    assert (await c.get(url)).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    page = await c.get(url, headers=auth)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # none allowed at all
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert (await c.get("/api/v1/sessions/nope/report", headers=auth)).status_code == 404
    pdf = await c.get(url, params={"format": "pdf"}, headers=auth, timeout=90)
    assert pdf.status_code == 200, pdf.text
    body = pdf.content
    assert body.startswith(b"%PDF-") and pdf.headers["content-type"] == "application/pdf"
    # every page A4 portrait: 595 x 842 points (Chromium writes 594.96 x 841.92)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", body)
    assert boxes and all(
        abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes
    ), boxes


def test_cli_writes_html_and_refuses_unknown_session(tmp_path: Path) -> None:
    import asyncio

    config = _config(tmp_path)
    sid = asyncio.run(make_vitals_session(load(config).store_path))
    runner = CliRunner()
    out = tmp_path / "r.html"
    ok = runner.invoke(app, ["report", sid, "-c", str(config), "-o", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "Oksygenmetning" in out.read_text(encoding="utf-8")
    bad = runner.invoke(app, ["report", "nope", "-c", str(config)])
    assert bad.exit_code == 2 and "no session 'nope'" in bad.output
    pdf_needs_file = runner.invoke(app, ["report", sid, "-c", str(config), "--format", "pdf"])
    assert pdf_needs_file.exit_code == 2 and "--output" in pdf_needs_file.output


async def test_snapshots_embedded_and_notes_escaped(tmp_path: Path) -> None:
    import base64

    import cv2
    from hwsim.camera import SyntheticCamera

    from gateway import records
    from gateway.auth import Principal
    from webrtc.camera import encode_jpeg

    settings = load(_config(tmp_path))
    sid = await make_vitals_session(settings.store_path)
    jpeg = encode_jpeg(SyntheticCamera(640, 480, 30).frame()[0])
    async with Store(settings.store_path) as store:
        nurse = Principal("nurse", subject="kiosk")
        specialist = Principal("specialist", participant_id="p-1", session_id=sid)
        for k, who in enumerate((specialist, nurse)):
            row = records.SnapshotRow(f"s{k}", sid, "derm", 640, 480, 1_795_426_900.0 + k, "", "",
                                      None)  # fmt: skip
            await store.call(records.insert_snapshot, row, who, jpeg)
        other = records.SnapshotRow("x", "another", "room", 640, 480, 0.0, "", "", None)
        await store.call(records.insert_snapshot, other, nurse, b"not in this report")
        await store.call(records.insert_note, sid, specialist, "Føflekk <b>3 mm</b>\nKontroll", 5.0)
    page = with_store_file(settings.store_path, lambda db: report_html(db, sid, settings, 0.0))
    assert page is not None
    _, scripts = _rows(page)
    assert scripts == 0 and "Notater" in page and "Stillbilder" in page
    images = re.findall(r'<img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2  # this session's two stills, not the other session's
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(images[0]), np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (480, 640, 3)
    assert "Føflekk &lt;b&gt;3 mm&lt;/b&gt;<br>Kontroll" in page  # escaped, line kept
    assert "Spesialist" in page and "Sykepleier" in page and "derm · 640×480" in page
    assert "width: 88mm" in page  # two stills across an A4 page
