"""schemathesis against the app's own OpenAPI schema, authenticated: no 5xx on any operation.

Examples are limited (derandomized, 30 per operation) to stay well under a minute.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from gateway.pin import hash_pin
from tests.security.conftest import App, AppFactory

EXAMPLES = 30
ADMIN = "b" * 40


def _fuzz(
    operation: schemathesis.APIOperation, headers: dict[str, str], seen: dict[str, int]
) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, (label, case.body, response.text[:300])
        seen[label] = seen.get(label, 0) + 1

    check()


async def test_no_5xx_on_any_operation(
    make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "helserom_admin-token").write_text(ADMIN)  # as LoadCredential=helserom:DIR names it
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    gw: App = await make_app(security={"pin_hash": hash_pin("2580"), "idle_lock_s": 3600})
    kiosk = {"Authorization": f"Bearer {gw.token}"}
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def fuzz_all() -> dict[str, int]:
        schema = schemathesis.openapi.from_asgi("/openapi.json", gw.app, headers=kiosk)
        seen: dict[str, int] = {}
        for result in schema.get_all_operations():
            operation = result.ok()
            is_admin = operation.path.startswith("/api/v1/admin")
            _fuzz(operation, admin if is_admin else kiosk, seen)
        return seen

    start = time.monotonic()
    seen = await asyncio.to_thread(fuzz_all)
    elapsed = time.monotonic() - start
    print(f"schemathesis: {sum(seen.values())} calls, {len(seen)} operations, {elapsed:.1f} s")
    expected = {"GET /api/v1/devices", "POST /api/v1/kiosk/unlock", "GET /api/v1/admin/audit"}
    assert expected <= set(seen), seen
    assert gw.audit.tail(1)  # the calls were audited
