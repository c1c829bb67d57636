"""hwsim.room.SimRoom and hwsim.control: a running room commanded over its unix socket."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from hwsim.control import ControlServer, send_command
from hwsim.devices import NONIN2_KIND
from hwsim.errors import CommandError, HwsimError
from hwsim.room import DeviceSpec, SimRoom, default_link_path

from tests.hwsim._hwsim_helpers import entries, lexists, open_fd_count


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Unix socket paths must stay under 108 bytes: pytest's tmp_path can be long.
    path = Path(tempfile.mkdtemp(prefix="hwsim-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def specs_in(directory: Path) -> list[DeviceSpec]:
    return [
        DeviceSpec("oximeter-1", NONIN2_KIND, default_link_path(directory, "oximeter-1"), seed=1),
        DeviceSpec("oximeter-2", NONIN2_KIND, default_link_path(directory, "oximeter-2"), seed=2),
    ]


async def raw_exchange(socket_path: Path, lines: list[bytes]) -> list[dict[str, object]]:
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    replies = []
    try:
        for line in lines:
            writer.write(line)
            await writer.drain()
            replies.append(json.loads(await reader.readline()))
    finally:
        writer.close()
        await writer.wait_closed()
    return replies


async def test_room_uris_and_streams(short_dir: Path) -> None:
    async with SimRoom(specs_in(short_dir)) as room:
        link = default_link_path(short_dir, "oximeter-1")
        assert room.uris == {
            "oximeter-1": f"serial://{link}?codec=nonin2&baud=9600",
            "oximeter-2": f"serial://{default_link_path(short_dir, 'oximeter-2')}"
            "?codec=nonin2&baud=9600",
        }
        with serial.Serial(link, 9600, timeout=1.0) as ser:
            data = await asyncio.to_thread(ser.read, 50)
        assert len(data) == 50 and 0x01 in data


async def test_control_round_trip(short_dir: Path) -> None:
    socket_path = short_dir / "control.sock"
    fds_before = open_fd_count()
    async with SimRoom(specs_in(short_dir), control_socket=socket_path) as room:
        link = room.devices["oximeter-1"].link_path
        reply = await send_command(socket_path, {"command": "status"})
        assert reply["ok"] is True and set(reply["devices"]) == {"oximeter-1", "oximeter-2"}

        reply = await send_command(socket_path, {"device": "oximeter-1", "command": "unplug"})
        assert reply["ok"] is True and reply["status"]["plugged"] is False
        assert not lexists(link)
        reply = await send_command(socket_path, {"device": "oximeter-1", "command": "replug"})
        assert reply["status"]["plugged"] is True and lexists(link)

        for request in (
            {"device": "oximeter-1", "command": "garbage", "n": 5},
            {"device": "oximeter-1", "command": "truncate"},
            {"device": "oximeter-1", "command": "flip_bits", "n": 3},
            {"device": "oximeter-1", "command": "set_vitals", "hr_bpm": 110, "spo2_pct": 91},
            {"device": "oximeter-1", "command": "artifact", "seconds": 0.5},
            {"device": "oximeter-2", "command": "sensor_off"},
            {"device": "oximeter-2", "command": "sensor_on"},
        ):
            reply = await send_command(socket_path, request)
            assert reply["ok"] is True, reply
        await asyncio.sleep(0.3)
        counters = (await send_command(socket_path, {"device": "oximeter-1", "command": "status"}))[
            "status"
        ]["counters"]
        assert counters["garbage_bytes"] == 5
        assert counters["truncated_frames"] == 1
        assert counters["corrupted_frames"] == 3
        assert (counters["unplugs"], counters["replugs"]) == (1, 1)
        assert room.devices["oximeter-1"].vitals.hr_bpm == 110.0

        # Bad input gets an error reply; the same connection keeps working.
        replies = await raw_exchange(
            socket_path,
            [
                b"{not json\n",
                b"[1, 2]\n",
                b'{"device": "nope", "command": "unplug"}\n',
                b'{"device": "oximeter-1", "command": "explode"}\n',
                b'{"device": "oximeter-1", "command": "garbage"}\n',
                b'{"device": "oximeter-1", "command": "garbage", "n": "many"}\n',
                b'{"device": "oximeter-1", "command": "set_vitals", "hr": 80}\n',
                b'{"device": "oximeter-1", "command": "set_vitals", "hr_bpm": 900}\n',
                b'{"device": "oximeter-1", "command": "status"}\n',
            ],
        )
        assert [r["ok"] for r in replies] == [False] * 8 + [True]
        errors = [str(r["error"]) for r in replies[:8]]
        assert errors[0].startswith("bad JSON: ")
        assert errors[1] == 'expected a JSON object like {"command": "status"}'
        assert errors[2] == "unknown device 'nope': the room has oximeter-1, oximeter-2"
        assert errors[3].startswith(
            "unknown command 'explode' for nonin2-oximeter: expected one of status, unplug"
        )
        assert errors[4] == "missing parameter 'n'"
        assert errors[5] == "n_bytes must be a whole number in 0..100000, got 'many'"
        assert errors[6] == ("set_vitals does not take hr (it takes hr_bpm, perfusion, spo2_pct)")
        assert errors[7] == "hr_bpm=900 is outside 20..300"
        # A client that hangs around does not stop the shutdown.
        _idle_reader, idle_writer = await asyncio.open_unix_connection(str(socket_path))
    idle_writer.close()
    await idle_writer.wait_closed()
    assert not socket_path.exists()
    assert not lexists(link)
    assert entries(short_dir) == []
    assert open_fd_count() == fds_before


async def test_send_command_without_server(short_dir: Path) -> None:
    with pytest.raises(CommandError, match="is `python -m hwsim` running"):
        await send_command(short_dir / "none.sock", {"command": "status"})


def test_socket_path_length_is_checked() -> None:
    with pytest.raises(HwsimError, match="longer than 107 bytes"):
        ControlServer({}, "/tmp/" + "x" * 120 + ".sock")


async def test_stale_socket_is_replaced_live_one_refused(short_dir: Path) -> None:
    socket_path = short_dir / "control.sock"
    async with ControlServer({}, socket_path):
        with pytest.raises(HwsimError, match="another hwsim control server"):
            async with ControlServer({}, socket_path):
                pass
    stale = await asyncio.start_unix_server(lambda r, w: None, path=str(socket_path))
    stale.close()
    await stale.wait_closed()
    assert socket_path.exists()  # asyncio leaves the file behind, like a crashed process
    async with ControlServer({}, socket_path):
        assert (await send_command(socket_path, {"command": "status"}))["devices"] == {}
    assert not socket_path.exists()


async def test_cancellation_shuts_the_room_down_cleanly(short_dir: Path) -> None:
    socket_path = short_dir / "control.sock"
    fds_before = open_fd_count()
    started = asyncio.Event()

    async def run_room() -> None:
        async with SimRoom(specs_in(short_dir), control_socket=socket_path):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(run_room())
    await asyncio.wait_for(started.wait(), 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert entries(short_dir) == []
    assert open_fd_count() == fds_before


async def test_errors_in_the_block_propagate_as_themselves(short_dir: Path) -> None:
    with pytest.raises(KeyError):
        async with SimRoom(specs_in(short_dir)) as room:
            room.devices["missing"]
    assert entries(short_dir) == []


def test_specs_are_checked(short_dir: Path) -> None:
    with pytest.raises(HwsimError, match="unknown kind 'thermometer'"):
        DeviceSpec("t", "thermometer", str(short_dir / "t"))
    spec = DeviceSpec("a", NONIN2_KIND, str(short_dir / "a"))
    with pytest.raises(HwsimError, match="device ids must be unique"):
        SimRoom([spec, spec])


async def test_scenario_switch_over_the_control_socket(short_dir: Path) -> None:
    from hwsim.patient import Patient
    from hwsim.scenario import builtin_scenario

    patient = Patient(builtin_scenario("stable-copd"), seed=2)
    socket_path = short_dir / "control.sock"
    async with SimRoom(specs_in(short_dir), patient=patient, control_socket=socket_path):
        before = patient.vitals(0.0)
        reply = await send_command(
            socket_path, {"command": "scenario", "name": "copd-exacerbation"}
        )
        assert reply["ok"] and reply["scenario"] == "copd-exacerbation" and reply["at_s"] >= 0
        # the exacerbation's ramp (SpO2 down, HR up) now runs from the switch on
        late = patient.vitals(reply["at_s"] + 300.0)
        assert late.spo2_pct < before.spo2_pct and late.hr_bpm > before.hr_bpm
        bad = await send_command(socket_path, {"command": "scenario", "name": "nope"})
        assert not bad["ok"] and "no built-in scenario 'nope'" in bad["error"]
        both = await send_command(socket_path, {"command": "scenario"})
        assert both["error"] == "scenario needs one of 'name' (built-in) or 'path' (a TOML file)"
    # a room without a scenario patient says so
    async with SimRoom(specs_in(short_dir), control_socket=socket_path):
        reply = await send_command(socket_path, {"command": "scenario", "name": "stable-copd"})
        assert reply["error"] == "this room has no scenario-driven patient to switch"
