"""`helserom export SESSION --format fhir` and GET /api/v1/sessions/{id}/export on a real store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from gateway.api import create_app
from gateway.auth import KioskAuth
from gateway.cli import app
from gateway.health import GatewayContext, LoopMonitor
from gateway.live import LiveHub
from gateway.pipeline import Pipeline
from gateway.sessions import SessionManager
from gateway.settings import ConfigError, load
from gateway.store import Store
from tests.gateway.test_fhir_fixtures import CAREPLAN, make_vitals_session


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(
        f'[gateway]\nstate_dir = "{tmp_path}"\nsite = "bygdeby"\nroom = "rom-1"\n'
        f'[clinical]\ncareplan = "{CAREPLAN}"\n'
        f'[export]\npseudonym_system = "urn:oid:2.16.578.1.12.4.1.7.1"\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def stored(tmp_path: Path) -> tuple[Path, str]:
    config = _config(tmp_path)
    sid = await make_vitals_session(load(config).store_path)
    return config, sid


def test_cli_prints_a_valid_bundle_and_writes_a_file(
    stored: tuple[Path, str], tmp_path: Path
) -> None:
    config, sid = stored
    runner = CliRunner()
    result = runner.invoke(app, ["export", sid, "--format", "fhir", "--config", str(config)])
    assert result.exit_code == 0, result.output
    bundle = json.loads(result.stdout)
    Bundle.model_validate(bundle)
    text = json.dumps(bundle)
    assert "urn:oid:2.16.578.1.12.4.1.7.1" in text and '"interpretation"' in text
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["export", sid, "-c", str(config), "--output", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    assert len(json.loads(out.read_text())["entry"]) == len(bundle["entry"])


def test_cli_unknown_session_and_format_exit_2(stored: tuple[Path, str], tmp_path: Path) -> None:
    config, _ = stored
    runner = CliRunner()
    result = runner.invoke(app, ["export", "nope", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: no session 'nope' in {tmp_path / 'helserom.sqlite3'}"
    ]
    result = runner.invoke(app, ["export", "x", "--format", "csv", "--config", str(config)])
    assert result.exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["export", "x", "--config", str(_config(empty))])
    assert result.exit_code == 2
    assert "no database here" in result.stderr and len(result.stderr.splitlines()) == 1


def test_config_errors_name_key_value_and_expectation(tmp_path: Path) -> None:
    bad = _config(tmp_path, 'patient = "everything"\nwaveform_max_s = -1\n')
    with pytest.raises(ConfigError) as err:
        load(bad)
    lines = err.value.problems
    assert any(line.startswith("export.patient: got 'everything'") for line in lines), lines
    assert any(line.startswith("export.waveform_max_s: got -1") for line in lines), lines
    plan = tmp_path / "plan.toml"
    plan.write_text("[plan]\nid = 1\n", encoding="utf-8")
    cfg = tmp_path / "plan-cfg.toml"
    cfg.write_text(f'[clinical]\ncareplan = "{plan}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(cfg)
    (line,) = err.value.problems
    assert line == (
        f"clinical.careplan: got '{plan}'; expected a valid care plan "
        "(plan.id: expected a non-empty string, got 1)"
    )
    cfg.write_text(f'[clinical]\ncareplan = "{tmp_path / "none.toml"}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(cfg)
    assert "expected a readable care plan file" in err.value.problems[0]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    settings = load(_config(tmp_path))
    sid = await make_vitals_session(settings.store_path)
    auth = KioskAuth.load_or_create(tmp_path)
    async with Store(settings.store_path) as store:
        pipeline = Pipeline(settings.pipeline, store, LiveHub(8), [])
        ctx = GatewayContext(settings, pipeline, pipeline.hub, LoopMonitor())
        application = create_app(ctx, auth, SessionManager(store))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1:8080"
        ) as client:
            yield client, auth.token, sid


async def test_api_export_needs_the_nurse(api: tuple[httpx.AsyncClient, str, str]) -> None:
    client, token, sid = api
    url = f"/api/v1/sessions/{sid}/export?format=fhir"
    assert (await client.get(url)).status_code == 401
    bad = await client.get(url, headers={"Authorization": "Bearer " + "x" * 43})
    assert bad.status_code == 401
    ok = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/fhir+json"
    Bundle.model_validate(ok.json())
    assert ok.json()["type"] == "transaction"
    auth = {"Authorization": f"Bearer {token}"}
    missing = await client.get("/api/v1/sessions/nope/export", headers=auth)
    assert missing.status_code == 404 and missing.json() == {"detail": "no session 'nope'"}
    wrong = await client.get(f"/api/v1/sessions/{sid}/export?format=csv", headers=auth)
    assert wrong.status_code == 422
