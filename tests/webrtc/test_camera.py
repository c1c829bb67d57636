"""The synthetic camera's capture stamp, the encoders and the camera config rules."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aioice.ice
import av
import pytest
from hwsim.camera import SyntheticCamera, read_stamp, stamp
from hwsim.errors import CommandError

from gateway.settings import ConfigError, Settings, load
from webrtc import loopback
from webrtc.camera import CameraSource
from webrtc.encoder import VideoEncoder
from webrtc.errors import LoopbackRefused
from webrtc.track import CameraTrack, EncoderOptions, Feeds


def test_stamp_round_trip_and_checksum() -> None:
    cam = SyntheticCamera(640, 480, 30)
    img, ms = cam.frame(1_795_000_000_123)
    assert ms == 1_795_000_000_123 and read_stamp(img) == ms
    img[30, 13] = 255 - img[30, 13]  # one flipped block centre → checksum fails (or value)
    flipped = img.copy()
    flipped[: 480 // 20, : 640 // 24] = 255 - flipped[: 480 // 20, : 640 // 24]
    assert read_stamp(flipped) != ms
    with pytest.raises(CommandError, match="outside"):
        stamp(img, -1)
    with pytest.raises(CommandError, match="even sizes"):
        SyntheticCamera(641, 480, 30)


@pytest.mark.parametrize(("codec", "decoder"), [("h264", "h264"), ("vp8", "vp8")])
def test_stamp_survives_the_encoders(codec: str, decoder: str) -> None:
    cam = SyntheticCamera(640, 480, 30)
    enc = VideoEncoder(codec, 640, 480, 30)  # type: ignore[arg-type]
    dec = av.CodecContext.create(decoder, "r")
    read = []
    for i in range(10):
        img, ms = cam.frame(1_795_000_000_000 + i * 33)
        for frame in dec.decode(av.Packet(enc.encode(img, i * 3000, keyframe=i == 0))):
            read.append(read_stamp(frame.to_ndarray(format="bgr24")) == ms)
    assert len(read) >= 9 and all(read)


async def test_capture_runs_only_while_watched() -> None:
    frames = SyntheticCamera(128, 96, 60)
    cam = CameraSource("c", lambda: frames.frame()[0], width=128, height=96, fps=60)
    sub = cam.subscribe()
    first = await asyncio.wait_for(sub.next(), 5)
    second = await asyncio.wait_for(sub.next(), 5)
    assert second.index > first.index and first.image.shape == (96, 128, 3)
    sub.close()
    snap = await cam.snapshot()  # restarts the camera briefly
    assert snap.image.shape == (96, 128, 3)
    await asyncio.sleep(0.2)
    count = cam.frames_captured
    await asyncio.sleep(0.2)
    assert cam.frames_captured == count  # nobody watching: no capture
    cam.close()


def test_camera_config_errors_name_key_value_expected(tmp_path: Path) -> None:
    s = Settings(cameras=[{"id": "derm", "source": "/dev/video2", "width": 1280, "height": 720}])
    assert s.cameras[0].source == "/dev/video2" and s.cameras[0].fps == 30
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[cameras]]\nid = "x"\nsource = "rtsp://cam"\n[webrtc]\nh264_encoder = "nvenc"\n'
    )
    with pytest.raises(ConfigError) as err:
        load(path)
    text = str(err.value)
    assert "cameras.[0].source" in text or "cameras[0].source" in text
    assert "'rtsp://cam'" in text and '"sim:pattern"' in text
    assert "webrtc.h264_encoder: got 'nvenc'; expected 'libx264' or 'h264_v4l2m2m'" in text


def test_loopback_switch_refuses_outside_a_lo_only_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(loopback.ENV_VAR, raising=False)
    with pytest.raises(LoopbackRefused, match="tests only"):
        loopback.enable_loopback_candidates()
    monkeypatch.setenv(loopback.ENV_VAR, "1")
    assert loopback.interfaces() != ["lo"]  # this test runs outside a private namespace
    with pytest.raises(LoopbackRefused, match="unset HELSEROM_TEST_ALLOW_LOOPBACK_ICE"):
        loopback.enable_loopback_candidates()
    assert aioice.ice.get_host_addresses is loopback._original


def test_gateway_refuses_to_start_with_the_loopback_switch_outside_a_test_netns(
    tmp_path: Path,
) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(f'[gateway]\nstate_dir = "{tmp_path}/state"\n[server]\nport = 0\n')
    env = {**os.environ, "HELSEROM_TEST_ALLOW_LOOPBACK_ICE": "1"}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "helserom"), "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert out.returncode == 1, out
    assert "unset HELSEROM_TEST_ALLOW_LOOPBACK_ICE in production" in out.stderr
    assert "Traceback" not in out.stderr


async def test_one_encode_per_frame_for_every_viewer_and_keyframe_on_join() -> None:
    frames = SyntheticCamera(160, 96, 60)
    cam = CameraSource("c", lambda: frames.frame()[0], width=160, height=96, fps=60)
    feeds = Feeds(EncoderOptions(keyframe_interval_s=30.0))  # no periodic keyframe in the test
    first, second = CameraTrack(cam, feeds), CameraTrack(cam, feeds)
    dec = av.CodecContext.create("h264", "r")
    packets = [await asyncio.wait_for(first.recv(), 5) for _ in range(5)]
    assert all(bytes(p) for p in packets)
    decoded = [f for p in packets for f in dec.decode(p)]
    assert len(decoded) == 5 and decoded[0].key_frame
    joined = await asyncio.wait_for(second.recv(), 5)  # a late joiner starts on a keyframe
    late = av.CodecContext.create("h264", "r")
    assert late.decode(joined)[0].key_frame
    feed = feeds.get(cam, "h264")
    for _ in range(10):
        await asyncio.wait_for(asyncio.gather(first.recv(), second.recv()), 5)
    assert feed.users == 2
    # both viewers got every frame, each encoded once
    assert (
        first.frames_sent + second.frames_sent - first.frames_skipped - second.frames_skipped
        >= 2 * 10
    )
    assert feed.frames_encoded <= first.frames_sent + 2
    first.stop()
    second.stop()
    assert feed.users == 0 and feed.latest is None
    cam.close()
