"""The SQLite store: pragmas, migrations, one transaction per batch, NaN as NULL."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from drivers.model import (
    DeviceInfo,
    Measurement,
    QualityFlag,
    Quantity,
    ReceiveTime,
    SampleBlock,
)
from gateway.store import SCHEMA_VERSION, Store, StoreError


def _m(value: float, quality: QualityFlag = QualityFlag.NONE) -> Measurement:
    return Measurement(Quantity.SPO2, value, "%", "ox-1", ReceiveTime(1000.0, 5.0), quality=quality)


async def test_pragmas_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "db" / "gw.sqlite3"
    async with Store(path):
        pass
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"device", "measurement", "sample_block", "device_info"} <= tables


async def test_synchronous_full_on_the_connection(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3") as store:
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


async def test_batch_written_and_nan_stored_as_null(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    block = SampleBlock(
        Quantity.PLETH,
        "ox-1",
        ("pleth",),
        75.0,
        25,
        np.arange(25.0).reshape(-1, 1),
        "1",
        ReceiveTime(1000.0, 5.0),
        QualityFlag.GAP_BEFORE,
    )
    async with Store(path) as store:
        await store.write(
            [
                _m(97.0),
                _m(math.nan, QualityFlag.MISSING),
                block,
                ("ox-1", DeviceInfo(manufacturer="Nonin Medical")),
            ]
        )
        assert await store.count("measurement") == 2
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT quantity, value, unit, quality FROM measurement ORDER BY id"
    ).fetchall()
    assert rows == [("spo2", 97.0, "%", 0), ("spo2", None, "%", int(QualityFlag.MISSING))]
    first, n, data = db.execute(
        "SELECT first_index, n_samples, samples FROM sample_block"
    ).fetchone()
    assert (first, n) == (25, 25)
    assert np.frombuffer(data, "<f4").tolist() == list(range(25))
    assert (
        '"manufacturer": "Nonin Medical"'
        in db.execute("SELECT info FROM device_info").fetchone()[0]
    )


async def test_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    async with Store(path) as store:
        with pytest.raises(ValueError):
            await store.write([_m(97.0), "not an event"])  # type: ignore[list-item]
        assert await store.count("measurement") == 0


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this gateway knows"):
        async with Store(path):
            pass


async def test_migrates_from_v1(tmp_path: Path) -> None:
    from gateway.store import MIGRATIONS, _statements

    path = tmp_path / "gw.sqlite3"
    db = sqlite3.connect(path)
    for statement in _statements(MIGRATIONS[0]):
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    async with Store(path) as store:
        assert await store.count("device_info") == 0
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
