"""Debian's Chromium for the browser tests: where it is and the flags every test starts it with.

Never a Playwright-downloaded browser. Background networking off: this machine has no network,
and a test may only reach loopback (or a namespace it made).
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
HEADLESS_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# WebRTC with fake camera and microphone, no prompts, autoplay
FAKE_MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
