"""Join-code rate limit (429 + Retry-After) and the kiosk's PIN lock after idle time."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from gateway.pin import KioskLock, hash_pin, verify_pin
from gateway.ratelimit import RateLimitMiddleware, TokenBucketLimiter
from tests.security.conftest import App, AppFactory


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_refills_at_rate() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate_per_min=6, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == 10.0  # 6 a minute: one every 10 s
    assert limiter.take("b") == 0.0  # another client has its own bucket
    clock.now += 10.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0


def test_bucket_forgets_the_oldest_clients_beyond_its_limit() -> None:
    limiter = TokenBucketLimiter(rate_per_min=1, burst=1, clock=FakeClock(), max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.take(key) == 0.0
    assert limiter.take("a") == 0.0  # forgotten, so a fresh bucket
    assert limiter.take("c") > 0


async def test_middleware_limits_failed_join_attempts_per_client_ip() -> None:
    tiny = FastAPI()

    @tiny.get("/join/{code}")
    async def join(code: str) -> dict[str, str]:
        if code != "good":
            raise HTTPException(404, "unknown code")
        return {"code": code}

    @tiny.post("/api/v1/join")
    async def api_join() -> dict[str, bool]:
        raise HTTPException(410, "expired")

    @tiny.get("/other")
    async def other() -> dict[str, bool]:
        raise HTTPException(404, "nothing")

    tiny.add_middleware(
        RateLimitMiddleware,
        limiter=TokenBucketLimiter(rate_per_min=2, burst=3),
        prefixes=("/join", "/api/v1/join"),
    )
    a = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=tiny, client=("10.0.0.1", 1)), base_url="http://t"
    )
    b = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=tiny, client=("10.0.0.2", 1)), base_url="http://t"
    )
    async with a, b:
        assert [(await a.get("/join/good")).status_code for _ in range(10)] == [200] * 10
        codes = [(await a.get(f"/join/{i}")).status_code for i in range(2)]
        codes.append((await a.post("/api/v1/join")).status_code)
        codes.append((await a.get("/join/good")).status_code)  # even a good code waits now
        assert codes == [404, 404, 410, 429]
        refused = await a.get("/join/x")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 30
        assert [(await a.get("/other")).status_code for _ in range(5)] == [404] * 5  # not limited
        assert (await b.get("/join/y")).status_code == 404  # another client is not limited
    local = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=tiny, client=("127.0.0.1", 1)), base_url="http://t"
    )
    async with local:  # the box itself (kiosk, tools) is not limited
        assert [(await local.get(f"/join/{i}")).status_code for i in range(6)] == [404] * 6


async def test_gateway_app_limits_join_paths(make_app: AppFactory) -> None:
    gw: App = await make_app(security={"join_rate_per_min": 1, "join_burst": 2})
    async with gw.client() as client:
        codes = [(await client.post("/api/v1/join", json={})).status_code for _ in range(3)]
    assert codes[0] == 422 and codes[2] == 429  # failed (422) attempts count


def test_pin_hash_round_trip() -> None:
    encoded = hash_pin("4711")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_pin("4711", encoded)
    assert not verify_pin("4712", encoded)
    assert not verify_pin("4711", "scrypt$garbage")
    assert hash_pin("4711") != encoded  # salted


def test_lock_after_idle_and_try_limit() -> None:
    clock = FakeClock()
    lock = KioskLock(hash_pin("2468"), idle_lock_s=60, max_tries=3, lockout_s=60, clock=clock)
    assert not lock.locked
    clock.now += 59
    lock.touch()
    clock.now += 59
    assert not lock.locked  # activity reset the timer
    clock.now += 2
    assert lock.locked
    lock.touch()
    assert lock.locked  # activity does not unlock
    assert lock.unlock("0000") == 0.0
    assert lock.unlock("1111") == 0.0
    assert lock.unlock("2468") is None
    assert not lock.locked
    lock.lock()  # success restored the allowance: three tries again
    assert [lock.unlock(p) for p in ("0000", "0001", "0002")] == [0.0, 0.0, 0.0]
    wait_s = lock.unlock("2468")
    assert wait_s is not None and wait_s > 0 and lock.locked  # 4th try within a minute: refused
    clock.now += 20
    assert lock.unlock("2468") is None


async def test_locked_kiosk_gets_423_on_patient_data_until_pin(make_app: AppFactory) -> None:
    gw: App = await make_app(
        security={"pin_hash": hash_pin("1357"), "idle_lock_s": 0.3, "pin_max_tries": 2}
    )
    async with gw.kiosk() as kiosk:
        assert (await kiosk.get("/api/v1/devices")).status_code == 200
        await asyncio.sleep(0.5)
        locked = await kiosk.get("/api/v1/devices")
        assert locked.status_code == 423
        state = (await kiosk.get("/api/v1/kiosk/lock")).json()
        assert state == {"enabled": True, "locked": True, "idle_lock_s": 0.3}
        assert (await kiosk.get("/kiosk/")).status_code == 200  # the lock screen itself loads
        wrong = await kiosk.post("/api/v1/kiosk/unlock", json={"pin": "0000"})
        assert wrong.status_code == 403
        assert (await kiosk.post("/api/v1/kiosk/unlock", json={"pin": "12"})).status_code == 422
        assert (await kiosk.post("/api/v1/kiosk/unlock", json={"pin": "1357"})).status_code == 204
        assert (await kiosk.get("/api/v1/devices")).status_code == 200
        await kiosk.post("/api/v1/kiosk/lock")
        assert (await kiosk.get("/api/v1/devices")).status_code == 423
        for _ in range(2):
            await kiosk.post("/api/v1/kiosk/unlock", json={"pin": "9999"})
        limited = await kiosk.post("/api/v1/kiosk/unlock", json={"pin": "1357"})
        assert limited.status_code == 429 and "retry-after" in limited.headers
    async with gw.client() as anon:  # no token: 401, not a PIN prompt
        assert (await anon.post("/api/v1/kiosk/unlock", json={"pin": "1357"})).status_code == 401


def test_a_live_consultation_holds_the_idle_timer_but_not_a_lock_by_hand() -> None:
    clock = FakeClock()
    live = [True]
    lock = KioskLock(hash_pin("2468"), idle_lock_s=60, clock=clock, attended=lambda: live[0])
    clock.now += 600  # ten minutes of talking to the specialist without touching the screen
    assert not lock.locked
    live[0] = False  # the consultation ended: the idle time counts from its end
    clock.now += 59
    assert not lock.locked
    clock.now += 2
    assert lock.locked
    live[0] = True  # already locked: a consultation starting does not unlock
    assert lock.locked
    assert lock.unlock("2468") is None
    lock.lock()  # the nurse locks by hand during a call
    assert lock.locked


async def test_live_stream_is_refused_while_locked(make_app: AppFactory) -> None:
    gw: App = await make_app(security={"pin_hash": hash_pin("1357"), "idle_lock_s": 600})
    headers = {"Authorization": f"Bearer {gw.token}"}
    with TestClient(gw.app) as client:
        with client.websocket_connect("/api/v1/live", headers=headers) as ws:
            assert ws.receive_json()["type"] == "hello"
        assert client.post("/api/v1/kiosk/lock", headers=headers).status_code == 204
        with (
            client.websocket_connect("/api/v1/live", headers=headers) as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_json()
        assert closed.value.code == 4423


async def test_background_polling_does_not_keep_the_kiosk_unlocked(make_app: AppFactory) -> None:
    gw: App = await make_app(security={"pin_hash": hash_pin("1357"), "idle_lock_s": 1.0})
    background = {"X-Helserom-Background": "1"}
    async with gw.kiosk() as kiosk:
        assert (await kiosk.get("/api/v1/session", headers=background)).status_code == 200
        for _ in range(8):  # a poll every 0.2 s for 1.6 s: longer than idle_lock_s
            await asyncio.sleep(0.2)
            polled = await kiosk.get("/api/v1/session", headers=background)
        assert polled.status_code == 423
        await kiosk.post("/api/v1/kiosk/unlock", json={"pin": "1357"})
        for _ in range(8):  # the same pace without the header is the nurse at work
            await asyncio.sleep(0.2)
            assert (await kiosk.get("/api/v1/session")).status_code == 200
