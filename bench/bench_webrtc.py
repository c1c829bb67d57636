"""Gateway media: encoder CPU, and latency/CPU with 640x480@30 video to Chromium.

Part 1 (in-process): CPU per frame of libx264 preset ultrafast + tune zerolatency (ours,
webrtc/encoder.py) against aiortc's own H264Encoder (preset medium, tune zerolatency) and
VP8 (libvpx realtime), on hwsim's synthetic camera; "% core at 30 fps" = ms/frame x 30 / 10.
Part 2 (in `unshare -n`, only lo): a real gateway with the synthetic camera and Debian's
Chromium on /specialist/ (tests/e2e/media_netns.py):
  vitals one-way latency   = Chromium receive time − sent_at_ms (same machine clock)
  video capture→frame      = time a decoded frame reaches requestVideoFrameCallback − the
                             capture time stamped into the frame (read back from a canvas)
  gateway CPU              = process CPU time / wall time, idle, 1 viewer, 2 viewers
  Python viewer            = bench/vitals_probe.py (aiortc data channel + a WebSocket) in
                             the 1-viewer window: the gateway and transport without a browser
  WebSocket baseline       = the same vitals over /api/v1/live in the same page (sent_s),
                             measured in the same window as the data channel figures
                             (2 viewers running, steady state: the join transient left out);
                             video capture→frame in a window of its own after it (reading every
                             frame's stamp back costs the page's main thread; the page as
                             shipped reads one every 250 ms)
`python bench/bench_webrtc.py [seconds]` (default 15 s per phase; `--encoders-only`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "hardware-sim"))

from aiortc.codecs.h264 import H264Encoder as AiortcH264  # noqa: E402
from hwsim.camera import SyntheticCamera  # noqa: E402

from tests.e2e.media_netns import in_netns  # noqa: E402
from webrtc.encoder import VIDEO_TIME_BASE, VideoEncoder, bgr_to_i420  # noqa: E402


def encoder_cpu(width: int = 640, height: int = 480, frames: int = 150) -> dict[str, float]:
    """Milliseconds of CPU per frame (process time, all encoder threads) for each encoder."""
    cam = SyntheticCamera(width, height, 30)
    images = [cam.frame(1_795_000_000_000 + i * 33)[0] for i in range(frames)]
    out: dict[str, float] = {}

    def run(name: str, encode: object) -> None:
        assert callable(encode)
        for i in range(5):  # warm-up: codec open, first keyframe
            encode(images[i], i)
        t0 = time.process_time()
        for i, img in enumerate(images):
            encode(img, i + 5)
        out[name] = round((time.process_time() - t0) * 1000.0 / frames, 2)

    ours = VideoEncoder("h264", width, height, 30)
    run("libx264 ultrafast+zerolatency (ours)", lambda img, i: ours.encode(img, i * 3000))
    theirs = AiortcH264()

    def aiortc_encode(img: object, i: int) -> None:
        frame = bgr_to_i420(img)  # type: ignore[arg-type]
        frame.pts, frame.time_base = i * 3000, VIDEO_TIME_BASE
        theirs.encode(frame)

    run("aiortc H264Encoder default (preset medium)", aiortc_encode)
    vp8 = VideoEncoder("vp8", width, height, 30)
    run("libvpx VP8 realtime (fallback)", lambda img, i: vp8.encode(img, i * 3000))
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seconds = float(args[0]) if args else 15.0
    print("== encoder CPU per frame (ms; % of one core at 30 fps = ms x 3)")
    for size in ((640, 480), (1280, 720)):
        figures = encoder_cpu(*size, frames=90 if size[0] > 640 else 150)
        for name, ms in figures.items():
            print(f"{size[0]}x{size[1]}  {name:45s} {ms:7.2f} ms/frame  {ms * 3:6.1f} % core")
        base = figures["libx264 ultrafast+zerolatency (ours)"]
        ratio = figures["aiortc H264Encoder default (preset medium)"] / base
        print(f"{size[0]}x{size[1]}  aiortc default / ours = {ratio:.1f}x CPU")
    if "--encoders-only" in sys.argv:
        return
    print(f"== gateway → Chromium in unshare -n, 640x480@30 H.264, {seconds:.0f} s per phase")
    result = in_netns("bench", seconds, timeout_s=120 + 5 * seconds)
    print(json.dumps(result, indent=1))
    dc, ws, vid = (
        result["vitals_dc_ms"],
        result["vitals_ws_ms"],
        result["video_capture_to_frame_ms"],
    )
    load = result["load_avg_1min"]
    print(f"load average (1 min) during the run: {load:.1f} on {os.cpu_count()} cores")
    print(f"vitals data channel  p50 {dc['p50']} ms  p99 {dc['p99']} ms  (n={dc['n']})")
    print(f"vitals WebSocket     p50 {ws['p50']} ms  p99 {ws['p99']} ms  (n={ws['n']})")
    print(f"video capture→frame  p50 {vid['p50']} ms  p99 {vid['p99']} ms  (n={vid['n']})")
    one, probe = result["one_viewer_vitals_dc_ms"], result.get("probe") or {}
    print(f"1 Chromium viewer: vitals data channel p50 {one['p50']} ms  p99 {one['p99']} ms")
    for key, label in (("vitals_dc_ms", "data channel"), ("vitals_ws_ms", "WebSocket   ")):
        p = probe.get(key) or {}
        print(
            f"  same window, Python viewer (aiortc/websockets) {label} p50 {p.get('p50')} ms"
            f"  p99 {p.get('p99')} ms  (n={p.get('n')})"
        )
    r = result
    print(
        f"gateway CPU  idle {r['cpu_idle_pct']} %  1 viewer {r['cpu_1_viewer_pct']} %  "
        f"2 viewers {r['cpu_2_viewers_pct']} %  (2nd viewer +{r['marginal_cpu_2nd_viewer_pct']} %)"
    )


if __name__ == "__main__":
    main()
